import json
from pathlib import Path

import pytest

import hypermaml as hm
from hypermaml.config import (
    ConfigError,
    DataConfig,
    ModelConfig,
    RunConfig,
    TrainConfig,
    from_dict,
    load_run_config,
    to_dict,
)

CONFIGS = Path(hm.__file__).parent / "configs"
RUN = {
    "model": {
        "method": "hypermaml",
        "n_way": 3,
        "n_shot": 1,
        "backbone": {"kind": "conv4", "hidden": 8, "input_mean": [0.7], "input_std": [0.4]},
        "hypermaml": {"hidden": 16},
    },
    "train": {"epochs": 2, "episodes_per_epoch": 8, "meta_batch": 2, "n_query": 3, "val_episodes": 5},
    "data": {"train": "digits", "val": "digits"},
}


def write(tmp_path, data, name="run.json"):
    path = tmp_path / name
    path.write_text(json.dumps(data) if isinstance(data, dict) else data)
    return path


def test_model_config_survives_a_json_round_trip():
    cfg = hm.ModelConfig(
        method="maml",
        n_way=3,
        n_shot=2,
        backbone=hm.BackboneConfig(kind="identity", in_channels=2, input_mean=(1.0, 2.0), input_std=(3.0, 4.0)),
        maml=hm.MAMLConfig(inner_lr=0.5, first_order=True, adapt="head"),
    )
    assert from_dict(hm.ModelConfig, json.loads(json.dumps(to_dict(cfg)))) == cfg


def test_unknown_config_fields_are_rejected_by_name():
    with pytest.raises(ConfigError, match=r"^model\.colour: unknown ModelConfig field \(allowed: method, n_way"):
        from_dict(hm.ModelConfig, {"colour": "red"})
    with pytest.raises(ConfigError, match=r"^model\.backbone\.depth: unknown BackboneConfig field"):
        from_dict(hm.ModelConfig, {"backbone": {"depth": 4}})


def test_invalid_values_fail_at_construction():
    with pytest.raises(ValueError, match="unknown method"):
        hm.ModelConfig(method="reptile")
    with pytest.raises(ValueError, match="n_way must be at least 2"):
        hm.ModelConfig(n_way=1)
    with pytest.raises(ValueError, match="input_std must be positive"):
        hm.BackboneConfig(input_mean=(0.0,), input_std=(0.0,))


def test_config_error_is_a_value_error_exported_by_the_package():
    assert issubclass(ConfigError, ValueError) and hm.ConfigError is ConfigError


@pytest.mark.parametrize(
    "cls, data, message",
    [
        (ModelConfig, {"n_way": 5.5}, "model.n_way: 5.5 is not an integer (need an integer >= 2)"),
        (ModelConfig, {"n_way": 5.0}, "model.n_way: 5.0 is not an integer (need an integer >= 2)"),
        (ModelConfig, {"n_way": True}, "model.n_way: True is not an integer (need an integer >= 2)"),
        (ModelConfig, {"n_way": 1}, "model.n_way: 1 is too small (need an integer >= 2)"),
        (ModelConfig, {"n_shot": 0}, "model.n_shot: 0 is too small (need an integer >= 1)"),
        (ModelConfig, {"method": "reptile"}, "model.method: 'reptile' is not one of 'maml', 'hypermaml', 'protonet'"),
        (ModelConfig, {"backbone": {"kind": "resnet"}}, "model.backbone.kind: 'resnet' is not one of 'identity', 'conv4'"),
        (
            ModelConfig,
            {"backbone": {"batch_norm": "layer"}},
            "model.backbone.batch_norm: 'layer' is not one of 'transductive', 'running', 'metabn', 'tasknorm-i'",
        ),
        (ModelConfig, {"backbone": {"in_channels": 0}}, "model.backbone.in_channels: 0 is too small (need an integer >= 1)"),
        (ModelConfig, {"backbone": {"hidden": 0}}, "model.backbone.hidden: 0 is too small (need an integer >= 1)"),
        (ModelConfig, {"backbone": {"n_blocks": 0}}, "model.backbone.n_blocks: 0 is too small (need an integer >= 1)"),
        (ModelConfig, {"backbone": {"input_std": [0]}}, "model.backbone.input_std[0]: 0 is too small (need a number > 0)"),
        (
            ModelConfig,
            {"backbone": {"input_std": "1"}},
            "model.backbone.input_std: '1' is not a list (need a non-empty list of numbers > 0)",
        ),
        (
            ModelConfig,
            {"backbone": {"input_mean": [], "input_std": []}},
            "model.backbone.input_mean: [] has too few items (need a non-empty list of numbers)",
        ),
        (
            ModelConfig,
            {"backbone": {"input_mean": [0.0, "a"], "input_std": [1, 1]}},
            "model.backbone.input_mean[1]: 'a' is not a number (need a number)",
        ),
        (ModelConfig, {"backbone": {"input_mean": [0.0, 0.0]}}, "model.backbone: input_mean has 2 entries but input_std has 1"),
        (
            ModelConfig,
            {"backbone": "conv4"},
            "model.backbone: 'conv4' is not a section (need an object with BackboneConfig fields)",
        ),
        (ModelConfig, {"maml": {"inner_lr": 0}}, "model.maml.inner_lr: 0 is too small (need a number > 0)"),
        (
            ModelConfig,
            {"maml": {"test_inner_lr": -0.1}},
            "model.maml.test_inner_lr: -0.1 is too small (need a number > 0 or null)",
        ),
        (
            ModelConfig,
            {"maml": {"test_inner_lr": "x"}},
            "model.maml.test_inner_lr: 'x' is not a number (need a number > 0 or null)",
        ),
        (ModelConfig, {"maml": {"train_steps": -1}}, "model.maml.train_steps: -1 is too small (need an integer >= 0)"),
        (ModelConfig, {"maml": {"test_steps": 2.5}}, "model.maml.test_steps: 2.5 is not an integer (need an integer >= 0)"),
        (ModelConfig, {"maml": {"first_order": 1}}, "model.maml.first_order: 1 is not true or false"),
        (ModelConfig, {"maml": {"first_order": "false"}}, "model.maml.first_order: 'false' is not true or false"),
        (ModelConfig, {"maml": {"adapt": "some"}}, "model.maml.adapt: 'some' is not one of 'head', 'all'"),
        (ModelConfig, {"hypermaml": {"aggregation": "max"}}, "model.hypermaml.aggregation: 'max' is not one of 'concat', 'mean'"),
        (ModelConfig, {"hypermaml": {"hidden": 0}}, "model.hypermaml.hidden: 0 is too small (need an integer >= 1)"),
        (
            ModelConfig,
            {"hypermaml": {"n_hidden_layers": -1}},
            "model.hypermaml.n_hidden_layers: -1 is too small (need an integer >= 0)",
        ),
        (
            ModelConfig,
            {"hypermaml": {"warmup_epochs": -1}},
            "model.hypermaml.warmup_epochs: -1 is too small (need an integer >= 0)",
        ),
        (
            ModelConfig,
            {"hypermaml": {"blend_epochs": -2}},
            "model.hypermaml.blend_epochs: -2 is too small (need an integer >= 0)",
        ),
        (
            ModelConfig,
            {"hypermaml": {"warmup_steps": -1}},
            "model.hypermaml.warmup_steps: -1 is too small (need an integer >= 0)",
        ),
        (
            ModelConfig,
            {"hypermaml": {"warmup_inner_lr": -1}},
            "model.hypermaml.warmup_inner_lr: -1 is too small (need a number >= 0)",
        ),
        (
            ModelConfig,
            {"hypermaml": {"delta_penalty": -0.5}},
            "model.hypermaml.delta_penalty: -0.5 is too small (need a number >= 0)",
        ),
        (ModelConfig, {"protonet": {"init_scale": 0}}, "model.protonet.init_scale: 0 is too small (need a number > 0)"),
        (TrainConfig, {"epochs": "two"}, "train.epochs: 'two' is not an integer (need an integer >= 1)"),
        (TrainConfig, {"epochs": 0}, "train.epochs: 0 is too small (need an integer >= 1)"),
        (TrainConfig, {"episodes_per_epoch": 0}, "train.episodes_per_epoch: 0 is too small (need an integer >= 1)"),
        (TrainConfig, {"meta_batch": 0}, "train.meta_batch: 0 is too small (need an integer >= 1)"),
        (TrainConfig, {"lr": "fast"}, "train.lr: 'fast' is not a number (need a number > 0)"),
        (TrainConfig, {"lr": True}, "train.lr: True is not a number (need a number > 0)"),
        (TrainConfig, {"lr": 0}, "train.lr: 0 is too small (need a number > 0)"),
        (TrainConfig, {"lr": float("nan")}, "train.lr: nan is not a finite number (need a number > 0)"),
        (TrainConfig, {"n_query": 0}, "train.n_query: 0 is too small (need an integer >= 1)"),
        (TrainConfig, {"val_episodes": -1}, "train.val_episodes: -1 is too small (need an integer >= 0)"),
        (TrainConfig, {"seed": -1}, "train.seed: -1 is too small (need an integer >= 0)"),
        (TrainConfig, {"seed": 1.5}, "train.seed: 1.5 is not an integer (need an integer >= 0)"),
        (
            TrainConfig,
            {"device": "tpu"},
            "train.device: 'tpu' is not a device this library runs on (need 'cpu', 'cuda' or 'cuda:<index>')",
        ),
        (TrainConfig, {"device": "cuda:x"}, "train.device: 'cuda:x' is not a device this library runs on"),
        (TrainConfig, {"init_from": 3}, "train.init_from: 3 is not a string (need a string or null)"),
        (TrainConfig, {"augment": {"scale": [1.0]}}, "train.augment.scale: [1.0] has 1 items (need a list of 2 numbers > 0)"),
        (TrainConfig, {"augment": {"scale": [2.0, 1.0]}}, "train.augment: scale must be 0 < low <= high, got (2.0, 1.0)"),
        (
            TrainConfig,
            {"augment": {"thicken": [0, 1.5]}},
            "train.augment.thicken[1]: 1.5 is not an integer (need an integer >= 0)",
        ),
        (TrainConfig, {"augment": {"rotate": -5}}, "train.augment.rotate: -5 is too small (need a number >= 0)"),
        (DataConfig, {"train": "mnist"}, "data.train: 'mnist' is not a known dataset (need one of 'omniglot-nolatin', "),
        (DataConfig, {"train": "digits", "val": 3}, "data.val: 3 is not a string (need one of 'omniglot-nolatin', "),
        (DataConfig, {}, "data.train: missing (need one of 'omniglot-nolatin', "),
        (RunConfig, {"optim": {}, "data": {"train": "digits"}}, "optim: unknown section (allowed: model, train, data)"),
        (
            RunConfig,
            {"model": [], "data": {"train": "digits"}},
            "model: [] is not a section (need an object with ModelConfig fields)",
        ),
    ],
)
def test_each_bad_value_names_its_field_the_value_and_what_is_allowed(cls, data, message):
    with pytest.raises(ConfigError) as info:
        from_dict(cls, data)
    assert str(info.value).startswith(message)
    assert "\n" not in str(info.value)
    assert info.value.path == message.split(":")[0]


@pytest.mark.parametrize("device", ["cpu", "cuda", "cuda:0", "cuda:12"])
def test_every_device_spelling_torch_accepts_for_a_gpu_is_allowed(device):
    assert from_dict(TrainConfig, {"device": device}).device == device


def test_values_are_normalised_integers_to_floats_and_lists_to_tuples():
    cfg = from_dict(TrainConfig, {"lr": 1, "augment": {"scale": [1, 2], "thicken": [0, 2], "rotate": 10}})
    assert type(cfg.lr) is float and cfg.augment.scale == (1.0, 2.0) and type(cfg.augment.scale[0]) is float
    assert cfg.augment.thicken == (0, 2) and type(cfg.augment.rotate) is float
    assert from_dict(ModelConfig, {"maml": {"test_inner_lr": None}}).maml.test_inner_lr is None


def test_a_prefix_places_a_sub_config_where_the_caller_found_it():
    with pytest.raises(ConfigError, match=r"^saved\.n_way: 5\.5 is not an integer"):
        from_dict(ModelConfig, {"n_way": 5.5}, prefix="saved")
    with pytest.raises(ConfigError, match=r"^model\.backbone\.hidden: 0 is too small"):
        from_dict(hm.BackboneConfig, {"hidden": 0})


def test_a_run_config_round_trips_through_to_dict():
    run = from_dict(RunConfig, RUN)
    assert run.data == DataConfig(train="digits", val="digits", test=None)
    assert from_dict(RunConfig, json.loads(json.dumps(run.to_dict()))) == run
    assert run.to_dict()["model"] == to_dict(run.model)


def test_missing_sections_take_their_defaults_but_data_must_name_a_training_set():
    run = from_dict(RunConfig, {"data": {"train": "digits"}})
    assert run.model == ModelConfig() and run.train == TrainConfig()
    with pytest.raises(ConfigError, match=r"^data\.train: missing"):
        from_dict(RunConfig, {"model": {}})


CONFIG_FILES = sorted(CONFIGS.rglob("*.json"))


def test_the_bundled_run_configs_are_found():
    assert len(CONFIG_FILES) >= 9 and any(p.parent.name == "transductive" for p in CONFIG_FILES)


@pytest.mark.parametrize("path", CONFIG_FILES, ids=lambda p: str(p.relative_to(CONFIGS)))
def test_every_bundled_run_config_loads_and_keeps_every_value(path):
    run = load_run_config(path)
    assert isinstance(run, RunConfig)
    raw = json.loads(path.read_text())

    def same(stored, given):  # every value in the file arrives in the config (JSON lists as tuples)
        if isinstance(given, dict):
            return all(same(stored[k], v) for k, v in given.items())
        return stored == given

    assert same(run.to_dict(), raw)


def test_a_run_config_is_read_from_json_and_toml_alike(tmp_path):
    toml = write(
        tmp_path,
        '[model]\nmethod = "protonet"\nn_way = 3\n[model.backbone]\ninput_mean = [0.5]\n'
        'input_std = [0.25]\n[train]\nepochs = 1\nlr = 1\n[data]\ntrain = "digits"\n',
        "run.toml",
    )
    run = load_run_config(toml)
    assert run.model.method == "protonet" and run.model.backbone.input_std == (0.25,) and run.train.lr == 1.0
    assert load_run_config(write(tmp_path, RUN)) == from_dict(RunConfig, RUN)


def test_overrides_are_parsed_as_json_where_possible_and_reach_nested_sections(tmp_path):
    path = write(tmp_path, RUN)
    run = load_run_config(
        path,
        [
            "train.epochs=7",
            "model.hypermaml.aggregation=mean",
            "train.lr=0.5",
            "model.backbone.batch_norm=metabn",
            "data.val=null",
            "train.device=cuda:1",
            "train.augment.scale=[1, 1.5]",
            "model.maml.first_order=true",
        ],
    )
    assert run.train.epochs == 7 and run.train.lr == 0.5 and run.train.device == "cuda:1"
    assert run.model.hypermaml.aggregation == "mean" and run.model.backbone.batch_norm == "metabn"
    assert run.data.val is None and run.train.augment.scale == (1.0, 1.5) and run.model.maml.first_order is True
    # an override may create a section the file leaves out
    assert load_run_config(path, ["model.protonet.init_scale=2"]).model.protonet.init_scale == 2.0


@pytest.mark.parametrize(
    "contents, name, message",
    [
        (
            '{"model": {"n_way": 3,}}',
            "bad.json",
            r"^config file '.*bad\.json' is not valid JSON: Expecting property name enclosed in double quotes at line 1, column 23$",
        ),
        (
            '{\n  "model": {\n    "n_way": 3\n  \n',
            "cut.json",
            r"^config file '.*cut\.json' is not valid JSON: .* at line 5, column 1$",
        ),
        ("[model]\nn_way = \n", "bad.toml", r"^config file '.*bad\.toml' is not valid TOML: .*\(at line 2, column 9\)$"),
        ("[1, 2]", "list.json", r"^config file '.*list\.json' holds \[1, 2\], not an object with sections model, train, data$"),
        (
            '{"model": {}, "optim": {"lr": 1}, "data": {"train": "digits"}}',
            "s.json",
            r"^config file '.*s\.json': optim: unknown section \(allowed: model, train, data\)$",
        ),
        (
            '{"model": {"n_way": 5.5}, "data": {"train": "digits"}}',
            "v.json",
            r"^config file '.*v\.json': model\.n_way: 5\.5 is not an integer \(need an integer >= 2\)$",
        ),
        (
            '{"data": {"train": "mnist"}}',
            "d.json",
            r"^config file '.*d\.json': data\.train: 'mnist' is not a known dataset \(need one of 'omniglot-nolatin', .*'digits'\)$",
        ),
    ],
)
def test_a_malformed_run_config_file_is_named_with_what_is_wrong(tmp_path, contents, name, message):
    with pytest.raises(ConfigError, match=message):
        load_run_config(write(tmp_path, contents, name))


def test_a_missing_config_file_or_a_folder_is_named(tmp_path):
    with pytest.raises(ConfigError, match=r"^config file '.*x\.json' does not exist$"):
        load_run_config(tmp_path / "x.json")
    with pytest.raises(ConfigError, match=r"is a directory"):
        load_run_config(tmp_path)


@pytest.mark.parametrize(
    "item, message",
    [
        ("train.epochs", r"^--set 'train\.epochs' needs section\.field=value \(e\.g\. train\.epochs=5\)$"),
        ("optim.lr=1", r"^--set 'optim\.lr=1': optim: unknown section \(allowed: model, train, data\)$"),
        ("train.epoch=5", r"^--set 'train\.epoch=5': train\.epoch: unknown TrainConfig field \(allowed: epochs, "),
        ("model.backbone.depth=3", r"^--set 'model\.backbone\.depth=3': model\.backbone\.depth: unknown BackboneConfig field"),
        ("train.lr.x=1", r"^--set 'train\.lr\.x=1': train\.lr is a value, not a section$"),
        ("train.epochs=two", r"^--set 'train\.epochs=two': train\.epochs: 'two' is not an integer \(need an integer >= 1\)$"),
        ("model.n_way=5.5", r"^--set 'model\.n_way=5\.5': model\.n_way: 5\.5 is not an integer \(need an integer >= 2\)$"),
        (
            "model.hypermaml.aggregation=max",
            r"^--set 'model\.hypermaml\.aggregation=max': model\.hypermaml\.aggregation: 'max' is not one of 'concat', 'mean'$",
        ),
        ("train.augment.scale=[1]", r"^--set 'train\.augment\.scale=\[1\]': train\.augment\.scale: \[1\] has 1 items"),
    ],
)
def test_a_bad_override_is_named_with_the_item_as_given(tmp_path, item, message):
    with pytest.raises(ConfigError, match=message):
        load_run_config(write(tmp_path, RUN), [item])
