import pickle
import zipfile
from pathlib import Path

import pytest
import torch

import hypermaml as hm
from hypermaml import checkpoint
from hypermaml.checkpoint import FORMAT_VERSION, bundled_dir, bundled_names, read_checkpoint
from tests.conftest import image_episode, tiny_conv_config

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("method", ["maml", "hypermaml", "protonet"])
def test_a_saved_model_loads_back_with_its_config_weights_and_metrics(tmp_path, method):
    torch.manual_seed(0)
    model = hm.build_model(tiny_conv_config(method)).eval()
    if method == "hypermaml":
        torch.nn.init.normal_(model.hypernet.out.weight, std=0.1)
    path = tmp_path / "m.pt"
    hm.save(model, path, metrics={"accuracy": 0.5})
    loaded = hm.load(path)
    assert type(loaded) is type(model) and loaded.config == model.config
    assert loaded.metrics == {"accuracy": 0.5}
    assert not loaded.training
    ep = image_episode()
    a = model.logits(ep.query_x, model.adapt(ep.support_x, ep.support_y))
    b = loaded.logits(ep.query_x, loaded.adapt(ep.support_x, ep.support_y))
    assert torch.equal(a, b)
    raw = read_checkpoint(path)
    assert set(raw) == {"format_version", "config", "state_dict", "metrics"}


def test_a_text_file_is_not_a_checkpoint(tmp_path):
    path = tmp_path / "notes.pt"
    path.write_text("hello")
    with pytest.raises(hm.CheckpointError, match=r"^'.*notes\.pt' is not a checkpoint \(not a PyTorch file\)$"):
        hm.load(path)


def test_a_truncated_checkpoint_says_so(tmp_path):
    path = tmp_path / "m.pt"
    hm.save(hm.build_model(tiny_conv_config("protonet")), path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(hm.CheckpointError, match=r"^'.*m\.pt' is truncated or corrupt \(\d+ bytes\)"):
        hm.load(path)


def test_a_newer_format_version_asks_for_an_update(tmp_path):
    path = tmp_path / "m.pt"
    torch.save({"format_version": FORMAT_VERSION + 1, "config": {}, "state_dict": {}}, path)
    with pytest.raises(hm.CheckpointError, match=f"format_version {FORMAT_VERSION + 1}, newer than"):
        hm.load(path)


def test_a_plain_torch_file_without_a_format_version_is_named_as_such(tmp_path):
    path = tmp_path / "weights.pt"
    torch.save({"weight": torch.zeros(2)}, path)
    with pytest.raises(hm.CheckpointError, match="not a HyperMAML Studio checkpoint"):
        hm.load(path)


class Payload:
    def __reduce__(self):
        return (print, ("code ran",))


def test_pickled_code_is_refused_not_executed(tmp_path, capsys):
    path = tmp_path / "evil.pt"
    torch.save({"format_version": 1, "config": Payload(), "state_dict": {}}, path, pickle_module=pickle)
    with pytest.raises(hm.CheckpointError, match=r"^'.*evil\.pt' holds objects other than plain data; refusing to load it$"):
        hm.load(path)
    assert "code ran" not in capsys.readouterr().out


def test_weights_that_do_not_fit_the_config_are_reported(tmp_path):
    path = tmp_path / "m.pt"
    hm.save(hm.build_model(tiny_conv_config("maml", n_way=3)), path)
    data = torch.load(path, weights_only=True)
    data["config"]["n_way"] = 4
    torch.save(data, path)
    with pytest.raises(hm.CheckpointError, match="weights do not fit the stored config"):
        hm.load(path)


def test_a_missing_file_is_named(tmp_path):
    with pytest.raises(hm.CheckpointError, match=r"^no such checkpoint file '.*absent\.pt'$"):
        hm.load(tmp_path / "absent.pt")


def saved_checkpoint(path, method="protonet", **changes):
    """A real checkpoint at ``path``, then ``changes`` written into its raw dict."""
    hm.save(hm.build_model(tiny_conv_config(method)), path)
    if changes:
        data = torch.load(path, weights_only=True)
        for key, value in changes.items():
            if value is None:
                del data[key]
            else:
                data[key] = value
        torch.save(data, path)
    return path


def test_random_bytes_are_not_a_pytorch_file(tmp_path):
    path = tmp_path / "noise.pt"
    path.write_bytes(bytes(range(7, 256)) * 4)
    with pytest.raises(hm.CheckpointError, match=r"^'.*noise\.pt' is not a checkpoint \(not a PyTorch file\)$"):
        hm.load(path)


def test_an_empty_file_is_named_as_empty(tmp_path):
    path = tmp_path / "empty.pt"
    path.write_bytes(b"")
    with pytest.raises(hm.CheckpointError, match=r"^'.*empty\.pt' is empty \(0 bytes\), not a checkpoint"):
        hm.load(path)


def test_a_directory_is_not_a_checkpoint_file(tmp_path):
    folder = tmp_path / "run.pt"
    folder.mkdir()
    with pytest.raises(hm.CheckpointError, match=r"^'.*run\.pt' is a directory, not a checkpoint file$"):
        hm.load(folder)


@pytest.mark.parametrize("cut", [0.5, 0.9, 0.02])
def test_a_checkpoint_cut_short_anywhere_is_named_truncated(tmp_path, cut):
    path = saved_checkpoint(tmp_path / "m.pt")
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * cut)])
    with pytest.raises(hm.CheckpointError, match=rf"^'.*m\.pt' is truncated or corrupt \({int(len(data) * cut)} bytes\)"):
        hm.load(path)


def test_an_old_format_pytorch_file_cut_short_is_named_truncated(tmp_path):
    path = tmp_path / "old.pt"
    torch.save({"format_version": 1, "state_dict": {"w": torch.zeros(50)}}, path, _use_new_zipfile_serialization=False)
    data = path.read_bytes()
    for cut in (8, len(data) // 2):
        path.write_bytes(data[:cut])
        with pytest.raises(hm.CheckpointError, match=r"^'.*old\.pt' is truncated or corrupt"):
            hm.load(path)


def test_a_zip_archive_with_a_damaged_pickle_is_corrupt(tmp_path):
    good = saved_checkpoint(tmp_path / "good.pt")
    path = tmp_path / "bad.pt"
    with zipfile.ZipFile(good) as src, zipfile.ZipFile(path, "w") as dst:
        for name in src.namelist():
            data = src.read(name)
            dst.writestr(name, data[: len(data) // 2] if name.endswith("data.pkl") else data)
    with pytest.raises(hm.CheckpointError, match=r"^'.*bad\.pt' is truncated or corrupt"):
        hm.load(path)


def test_a_zip_archive_that_torch_did_not_write_is_not_a_pytorch_file(tmp_path):
    path = tmp_path / "notes.pt"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("notes.txt", "hello")
    with pytest.raises(hm.CheckpointError, match=r"^'.*notes\.pt' is not a checkpoint \(not a PyTorch file"):
        hm.load(path)


def test_plain_objects_beside_tensors_are_refused_as_unsafe(tmp_path):
    path = tmp_path / "m.pt"
    torch.save({"format_version": 1, "config": {}, "state_dict": {}, "metrics": {"when": Path("x")}}, path)
    with pytest.raises(hm.CheckpointError, match=r"^'.*m\.pt' holds objects other than plain data; refusing to load it$"):
        hm.load(path)


def test_an_invalid_stored_config_names_the_field_and_the_value(tmp_path):
    path = tmp_path / "m.pt"
    hm.save(hm.build_model(tiny_conv_config("maml")), path)
    data = torch.load(path, weights_only=True)
    data["config"]["n_way"] = 5.5
    torch.save(data, path)
    with pytest.raises(
        hm.CheckpointError,
        match=r"^'.*m\.pt' has an invalid config: model\.n_way: 5\.5 is not an integer "
        r"\(need an integer >= 2\)$",
    ) as info:
        hm.load(path)
    assert isinstance(info.value.__cause__, hm.ConfigError)
    data["config"]["n_way"] = 3
    data["config"]["backbone"]["kind"] = "resnet"
    torch.save(data, path)
    with pytest.raises(
        hm.CheckpointError, match=r"invalid config: model\.backbone\.kind: 'resnet' is not one of 'identity', 'conv4'$"
    ):
        hm.load(path)
    data["config"] = ["not", "a", "dict"]
    torch.save(data, path)
    with pytest.raises(hm.CheckpointError, match=r"invalid config: model: \['not', 'a', 'dict'\] is not a section"):
        hm.load(path)


@pytest.mark.parametrize(
    "version, message",
    [
        (-1, r"has format_version -1, which no release wrote; this library reads format_version 1 to \d+$"),
        (0, r"has format_version 0, which no release wrote"),
        ("1", r"has format_version '1' \(str\), not an integer; this library reads format_version 1 to \d+$"),
        (1.0, r"has format_version 1\.0 \(float\), not an integer"),
        (True, r"has format_version True \(bool\), not an integer"),
        (
            FORMAT_VERSION + 1,
            rf"has format_version {FORMAT_VERSION + 1}, newer than this library reads \({FORMAT_VERSION}\); update hypermaml",
        ),
    ],
)
def test_an_unsupported_format_version_is_named(tmp_path, version, message):
    path = saved_checkpoint(tmp_path / "m.pt", format_version=version)
    with pytest.raises(hm.CheckpointError, match=r"^'.*m\.pt' " + message):
        hm.load(path)


@pytest.mark.parametrize("drop", ["config", "state_dict"])
def test_missing_keys_are_named(tmp_path, drop):
    path = saved_checkpoint(tmp_path / "m.pt", **{drop: None})
    with pytest.raises(
        hm.CheckpointError, match=rf"^'.*m\.pt' lacks {drop} \(a checkpoint holds format_version, config, state_dict, metrics\)$"
    ):
        hm.load(path)


def test_a_malformed_state_dict_or_metrics_is_named(tmp_path):
    path = saved_checkpoint(tmp_path / "m.pt", state_dict={"w": [1, 2]})
    with pytest.raises(hm.CheckpointError, match=r"^'.*m\.pt' has a malformed state_dict"):
        hm.load(path)
    path = saved_checkpoint(tmp_path / "n.pt", metrics=[0.5])
    with pytest.raises(hm.CheckpointError, match=r"^'.*n\.pt' has malformed metrics: a list, not a dict$"):
        hm.load(path)


def test_a_torch_file_holding_something_else_is_named(tmp_path):
    path = tmp_path / "list.pt"
    torch.save([torch.zeros(2)], path)
    with pytest.raises(hm.CheckpointError, match=r"not a HyperMAML Studio checkpoint \(no format_version; it holds a list\)$"):
        hm.load(path)


def test_the_bundled_checkpoints_are_listed_by_name():
    names = bundled_names()
    assert "omniglot_emnist_hypermaml_1shot" in names and "toy_hypermaml" in names
    assert "transductive/omniglot_emnist_hypermaml_1shot" in names
    assert names == sorted(names) and not any(n.endswith(".pt") for n in names)
    package = Path(hm.__file__).parent
    assert bundled_dir() in (package / "pretrained", package.parent / "pretrained")


def same_model(a, b):
    sa, sb = a.state_dict(), b.state_dict()
    return (
        type(a) is type(b)
        and a.config == b.config
        and a.metrics == b.metrics
        and sa.keys() == sb.keys()
        and all(torch.equal(sa[k], sb[k]) for k in sa)
    )


@pytest.mark.parametrize(
    "name, file",
    [
        ("omniglot_emnist_hypermaml_1shot", "omniglot_emnist_hypermaml_1shot.pt"),
        ("toy_maml.pt", "toy_maml.pt"),
        ("transductive/omniglot_emnist_hypermaml_1shot", "transductive/omniglot_emnist_hypermaml_1shot.pt"),
    ],
)
def test_a_bundled_name_loads_the_same_model_as_its_path(tmp_path, monkeypatch, name, file):
    monkeypatch.chdir(tmp_path)  # the name must not depend on the working directory
    assert same_model(hm.load(name), hm.load(bundled_dir() / file))
    assert read_checkpoint(name)["config"] == read_checkpoint(bundled_dir() / file)["config"]


def test_an_unknown_bare_name_lists_the_bundled_ones(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(
        hm.CheckpointError,
        match=r"^no such checkpoint file 'omniglot_hypermaml'; bundled checkpoints: "
        r"omniglot_emnist_hypermaml_1shot, .*transductive/omniglot_emnist_hypermaml_1shot",
    ):
        hm.load("omniglot_hypermaml")
    # a path elsewhere, or one climbing out of the bundled folder, is only a missing path
    for path in ("runs/x/best.pt", "../pretrained/toy_maml.pt", "transductive/../toy_maml"):
        with pytest.raises(hm.CheckpointError, match=rf"^no such checkpoint file '{path}'$".replace(".", r"\.")):
            hm.load(path)


def test_an_existing_path_wins_over_a_bundled_name(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    hm.save(hm.build_model(tiny_conv_config("protonet")), "toy_maml.pt", metrics={"mine": 1})
    assert hm.load("toy_maml.pt").metrics == {"mine": 1}
    assert hm.load("toy_maml").metrics != {"mine": 1}  # no file "toy_maml" here: the bundled one


def test_installed_package_data_is_searched_before_a_source_checkout(tmp_path, monkeypatch):
    site = tmp_path / "site"
    (site / "hypermaml" / "pretrained" / "sub").mkdir(parents=True)
    (site / "pretrained").mkdir()
    model = hm.build_model(tiny_conv_config("protonet"))
    hm.save(model, site / "hypermaml" / "pretrained" / "a.pt", metrics={"from": "package"})
    hm.save(model, site / "hypermaml" / "pretrained" / "sub" / "c.pt", metrics={"from": "package"})
    hm.save(model, site / "pretrained" / "a.pt", metrics={"from": "checkout"})
    hm.save(model, site / "pretrained" / "b.pt", metrics={"from": "checkout"})
    monkeypatch.setattr(checkpoint, "__file__", str(site / "hypermaml" / "checkpoint.py"))
    monkeypatch.chdir(tmp_path)
    assert bundled_dir() == site / "hypermaml" / "pretrained"
    assert bundled_names() == ["a", "b", "sub/c"]
    assert hm.load("a").metrics == {"from": "package"}
    assert hm.load("b.pt").metrics == {"from": "checkout"}
    assert hm.load("sub/c").metrics == {"from": "package"}


def test_without_bundled_checkpoints_a_bare_name_says_so(tmp_path, monkeypatch):
    monkeypatch.setattr(checkpoint, "__file__", str(tmp_path / "site" / "hypermaml" / "checkpoint.py"))
    monkeypatch.chdir(tmp_path)
    assert bundled_dir() is None and bundled_names() == []
    with pytest.raises(hm.CheckpointError, match=r"^no such checkpoint file 'toy_maml'; no bundled checkpoints are installed$"):
        hm.load("toy_maml")


def test_a_device_that_cannot_be_used_is_named_before_anything_loads():
    """hm.load(..., device="gpu") raised torch's own RuntimeError and device="cuda" an AssertionError."""
    with pytest.raises(ValueError, match="device 'gpu' is not a torch device: use 'cpu', 'cuda' or 'cuda:N'"):
        hm.load("toy_hypermaml", device="gpu")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="device 'cuda' was asked for but .*; use device='cpu'"):
            hm.load("toy_hypermaml", device="cuda")
    assert next(hm.load("toy_hypermaml", device=torch.device("cpu")).parameters()).device.type == "cpu"
