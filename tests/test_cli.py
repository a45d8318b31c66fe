"""The training and evaluation command lines, end to end on the always-available digits."""

import json
import re

import pytest
import torch

import hypermaml as hm
from hypermaml.cli import main
from hypermaml.config import load_run_config


def train_main(argv):
    assert main(["train", *argv]) == 0


def evaluate_main(argv):

    from hypermaml.cli import build_parser

    args = build_parser().parse_args(["evaluate", *argv])
    return args.run(args)


CONFIG = {
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


def test_overrides_are_parsed_as_json_where_possible(tmp_path):
    path = tmp_path / "c.json"
    path.write_text(json.dumps(CONFIG))
    run = load_run_config(path, ["train.epochs=7", "model.hypermaml.aggregation=mean", "train.lr=0.5"])
    assert run.train.epochs == 7 and run.train.lr == 0.5
    assert run.model.hypermaml.aggregation == "mean"
    with pytest.raises(ValueError, match="section.field=value"):
        load_run_config(path, ["train.epochs"])


def test_toml_configs_are_read_too(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text('[model]\nmethod = "protonet"\nn_way = 3\n[train]\nepochs = 1\n[data]\ntrain = "digits"\n')
    assert load_run_config(path).model.method == "protonet"


def test_train_then_evaluate_from_the_command_line(tmp_path, capsys):
    path = tmp_path / "c.json"
    path.write_text(json.dumps(CONFIG))
    out = tmp_path / "model.pt"
    train_main(
        ["--config", str(path), "--run-dir", str(tmp_path / "run"), "--out", str(out), "--no-progress", "--set", "train.epochs=1"]
    )
    model = hm.load(out)
    assert model.config.n_way == 3 and model.metrics["best_epoch"] == 1
    assert (tmp_path / "run" / "metrics.jsonl").read_text().count("\n") == 1
    # resume extends the same run to two epochs; each epoch records the torch threads it ran on
    threads = torch.get_num_threads()
    try:
        train_main(["--config", str(path), "--run-dir", str(tmp_path / "run"), "--resume", "--no-progress", "--threads", "1"])
    finally:
        torch.set_num_threads(threads)
    epochs = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert [e["threads"] for e in epochs] == [threads, 1]
    result = evaluate_main(
        ["--checkpoint", str(out), "--dataset", "digits", "--n-way", "3", "--episodes", "20", "--json", str(tmp_path / "e.json")]
    )
    assert 0 <= result["mean"] <= 1 and result["episodes"] == 20
    assert json.loads((tmp_path / "e.json").read_text())["accuracy_pct"] == round(100 * result["mean"], 2)
    assert "± " in capsys.readouterr().out


def test_steps_is_refused_for_a_method_without_an_inner_loop(tmp_path, capsys):
    out = tmp_path / "p.pt"
    hm.save(hm.build_model(hm.ModelConfig(method="protonet", n_way=3, backbone=hm.BackboneConfig(hidden=8))), out)
    assert main(["evaluate", "--checkpoint", str(out), "--dataset", "digits", "--steps", "3", "--episodes", "2"]) == 2
    assert capsys.readouterr().err == "error: --steps applies to MAML checkpoints only; this one is protonet\n"


def test_hm_evaluate_stays_the_library_function():
    import hypermaml.cli  # noqa: F401  - the command module no longer shadows hm.evaluate
    from toy.tasks import ToyTaskSampler

    model = hm.build_model(
        hm.ModelConfig(
            method="protonet",
            n_way=2,
            backbone=hm.BackboneConfig(kind="identity", in_channels=2, input_mean=(0.0, 0.0), input_std=(1.0, 1.0)),
        )
    )
    assert hm.evaluate(model, ToyTaskSampler(1, 2), n_episodes=3).n_episodes == 3
    assert callable(hm.evaluate) and hm.evaluate.__module__ == "hypermaml.evaluation"


def test_a_run_killed_mid_training_resumes_to_the_uninterrupted_result(tmp_path):
    import os
    import signal
    import subprocess
    import sys
    import time

    import torch

    config = json.loads(json.dumps(CONFIG))
    config["train"].update(epochs=3, episodes_per_epoch=40, meta_batch=2)
    path = tmp_path / "c.json"
    path.write_text(json.dumps(config))
    env = {**os.environ, "PYTHONPATH": str(__import__("pathlib").Path(__file__).resolve().parents[1])}
    args = [sys.executable, "-m", "hypermaml", "train", "--config", str(path), "--no-progress", "--threads", "1"]

    # The uninterrupted reference runs here, the same command on one thread (a process start costs seconds);
    # the run that is killed, and the one that resumes it, are processes of their own.
    threads = torch.get_num_threads()
    try:
        train_main(["--config", str(path), "--no-progress", "--threads", "1", "--run-dir", str(tmp_path / "straight")])
    finally:
        torch.set_num_threads(threads)

    run = tmp_path / "killed"
    proc = subprocess.Popen(args + ["--run-dir", str(run)], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while not (run / "last.pt").is_file():  # epoch 1 saved (written atomically, after its log line)
        assert time.time() < deadline and proc.poll() is None, "the run ended before it could be killed"
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)  # mid-run: after epoch 1 was saved, during epoch 2
    proc.wait()
    done = torch.load(run / "last.pt", weights_only=True)["epoch"]
    assert done < 3
    resumed = subprocess.run(args + ["--run-dir", str(run), "--resume"], check=True, env=env, capture_output=True, text=True)
    epochs = [int(m) for m in re.findall(r"^epoch=(\d+) ", resumed.stdout + resumed.stderr, re.M)]
    assert epochs == list(range(done + 1, 4)), epochs  # it went on from the saved epoch rather than starting again

    a = torch.load(tmp_path / "straight" / "last.pt", weights_only=True)["model"]
    b = torch.load(run / "last.pt", weights_only=True)["model"]
    for key in a:
        assert torch.allclose(a[key], b[key], atol=1e-6), key


def test_query_batch_one_evaluates_each_query_alone_from_the_command_line(tmp_path):
    out = tmp_path / "p.pt"
    torch.manual_seed(0)
    cfg = hm.ModelConfig(method="protonet", n_way=3, backbone=hm.BackboneConfig(hidden=8, batch_norm="metabn"))
    hm.save(hm.build_model(cfg), out)
    args = ["--checkpoint", str(out), "--dataset", "digits", "--n-way", "3", "--episodes", "5"]
    together = evaluate_main(args + ["--json", str(tmp_path / "a.json")])
    alone = evaluate_main(args + ["--query-batch", "1", "--json", str(tmp_path / "b.json")])
    assert alone["query_batch"] == 1 and together["query_batch"] is None
    assert alone["accuracies"] == together["accuracies"]  # MetaBN: batch-independent
    assert main(["evaluate", *args, "--query-batch", "0"]) == 2


# ---- every user error: one line "error: ...", status 2, nothing loaded or written --------------------------


def bad_config(tmp_path, text: str, name: str = "c.json"):
    path = tmp_path / name
    path.write_text(text)
    return path


@pytest.mark.parametrize(
    "config, overrides, says",
    [
        (None, [], "does not exist"),
        ("{not json", [], "c.json"),
        (json.dumps({**CONFIG, "extra": {}}), [], "extra"),
        (json.dumps({**CONFIG, "model": {**CONFIG["model"], "n_wayy": 3}}), [], "n_wayy"),
        (json.dumps(CONFIG), ["train.epochs"], "section.field=value"),
        (json.dumps(CONFIG), ["train.epochs=two"], "train.epochs"),
        (json.dumps(CONFIG), ["train.lr=fast"], "train.lr"),
        (json.dumps(CONFIG), ["model.n_way=5.5"], "model.n_way"),
        (json.dumps(CONFIG), ["model.backbone.kind=resnet"], "resnet"),
        (json.dumps(CONFIG), ["model.hypermaml.aggregation=max"], "aggregation"),
        (json.dumps(CONFIG), ["data.train=mnist"], "mnist"),
        (json.dumps(CONFIG), ["train.epochs=0"], "train.epochs"),
        # found by looking at the data or the starting checkpoint, still before anything is written
        (json.dumps(CONFIG), ["train.n_query=500"], "n_query=500 needs at least"),
        (json.dumps(CONFIG), ["model.n_way=11"], "n_way=11 needs at least 11"),
        (json.dumps(CONFIG), ["model.backbone.in_channels=3"], "3-channel 28x28"),
        (json.dumps(CONFIG), ["train.init_from=omniglot_emnist_protonet_1shot"], "other shapes than this model's"),
        (json.dumps(CONFIG), ["train.init_from=toy_hypermaml"], "other shapes than this model's"),
    ],
)
def test_a_bad_training_request_is_one_line_and_leaves_no_run_folder(tmp_path, capfd, config, overrides, says):
    path = tmp_path / "c.json" if config is None else bad_config(tmp_path, config)
    sets = [a for item in overrides for a in ("--set", item)]
    run_dir = tmp_path / "run"
    assert main(["train", "--config", str(path), "--run-dir", str(run_dir), "--no-progress", *sets]) == 2
    err = capfd.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1 and says in err, err
    assert not run_dir.exists()


def test_argparse_mistakes_are_one_line_too(tmp_path, capfd):
    with pytest.raises(SystemExit) as stop:
        main(["train", "--config"])
    assert stop.value.code == 2
    err = capfd.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1


def test_the_run_folder_must_be_in_the_state_the_flags_say(tmp_path, capfd):
    path = bad_config(tmp_path, json.dumps(CONFIG))
    assert main(["train", "--config", str(path), "--run-dir", str(tmp_path / "new"), "--resume"]) == 2
    assert "nothing to resume" in capfd.readouterr().err and not (tmp_path / "new").exists()
    (tmp_path / "old").mkdir()
    (tmp_path / "old" / "last.pt").write_bytes(b"x")
    assert main(["train", "--config", str(path), "--run-dir", str(tmp_path / "old")]) == 2
    assert "already holds a run" in capfd.readouterr().err
    assert sorted(p.name for p in (tmp_path / "old").iterdir()) == ["last.pt"]


def test_a_run_resumes_only_with_the_model_it_was_started_with(tmp_path, capfd):
    path = bad_config(tmp_path, json.dumps(CONFIG))
    run_dir = tmp_path / "run"
    train_main(["--config", str(path), "--run-dir", str(run_dir), "--no-progress", "--set", "train.epochs=1"])
    recorded = (run_dir / "run_config.json").read_text()
    capfd.readouterr()
    argv = ["train", "--config", str(path), "--run-dir", str(run_dir), "--resume", "--no-progress"]
    assert main([*argv, "--set", "model.n_way=4", "--set", "model.hypermaml.hidden=32"]) == 2
    err = capfd.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1, err
    assert "another model (hypermaml.hidden: 16 -> 32; n_way: 3 -> 4)" in err, err
    assert (run_dir / "run_config.json").read_text() == recorded  # the folder still describes the run it holds
    stored = json.loads(recorded)
    del stored["model"]["maml"]  # as a run started before a field existed would have recorded it: its default
    (run_dir / "run_config.json").write_text(json.dumps(stored))
    assert main([*argv, "--set", "train.epochs=2"]) == 0  # more epochs of the same model: resumes


def test_a_run_resumes_only_with_the_recipe_it_was_started_with(tmp_path, capfd):
    """A resume that forgot the first command's --set (or gave another --seed) went on with another recipe: a
    tiny smoke run turned into the full one, its log mixing 8- and 1000-episode epochs and its run_config.json
    rewritten as if it had been the full one all along. It is refused now, naming what changed; more epochs and
    another device are what a resume may change."""
    path = bad_config(tmp_path, json.dumps(CONFIG))
    run_dir = tmp_path / "run"
    first = ["--set", "train.epochs=1", "--set", "train.episodes_per_epoch=4", "--seed", "3"]
    assert main(["train", "--config", str(path), "--run-dir", str(run_dir), "--no-progress", *first]) == 0
    recorded = (run_dir / "run_config.json").read_text()
    log = (run_dir / "metrics.jsonl").read_text()
    argv = ["train", "--config", str(path), "--run-dir", str(run_dir), "--resume", "--no-progress"]
    for again, named in (
        (["--set", "train.epochs=2"], "(train.episodes_per_epoch: 4 -> 8; train.seed: 3 -> 0)"),  # forgot the rest
        ([*first, "--seed", "4"], "train.seed: 3 -> 4"),
        ([*first, "--set", "train.lr=0.01"], "train.lr: 0.001 -> 0.01"),
        ([*first, "--set", "train.augment.rotate=5"], "(train.augment.rotate: 0.0 -> 5.0)"),
    ):
        capfd.readouterr()
        assert main([*argv, *again]) == 2, again
        err = capfd.readouterr().err
        assert err.startswith(f"error: cannot resume {run_dir}: this command trains differently") and err.count("\n") == 1
        assert named in err and f"resume it with --config {run_dir / 'run_config.json'}" in err, err
        assert (run_dir / "run_config.json").read_text() == recorded and (run_dir / "metrics.jsonl").read_text() == log
    capfd.readouterr()
    assert main([*argv, *first, "--set", "train.epochs=2"]) == 0  # the same recipe, one more epoch
    assert [json.loads(line)["epoch"] for line in (run_dir / "metrics.jsonl").read_text().splitlines()] == [1, 2]
    # the remedy the message gives: the run's own recipe, one more epoch, and a meta-batch form that computes the same
    same = ["train", "--config", str(run_dir / "run_config.json"), "--run-dir", str(run_dir), "--resume", "--no-progress"]
    assert main([*same, "--set", "train.epochs=3", "--set", "train.vectorise=loop"]) == 0
    assert [json.loads(line)["epoch"] for line in (run_dir / "metrics.jsonl").read_text().splitlines()] == [1, 2, 3]


def test_a_cosine_run_resumes_only_with_its_epochs(tmp_path, capfd):
    """A cosine schedule spans the run's epochs: more of them would change every remaining step's learning rate."""
    path = bad_config(tmp_path, json.dumps(CONFIG))
    run_dir = tmp_path / "run"
    recipe = ["--set", "train.lr_schedule=cosine", "--set", "train.epochs=1", "--set", "train.episodes_per_epoch=4"]
    assert main(["train", "--config", str(path), "--run-dir", str(run_dir), "--no-progress", *recipe]) == 0
    capfd.readouterr()
    argv = ["train", "--config", str(path), "--run-dir", str(run_dir), "--resume", "--no-progress", *recipe]
    assert main([*argv, "--set", "train.epochs=2"]) == 2
    assert "(train.epochs: 1 -> 2)" in capfd.readouterr().err


def test_device_is_applied_before_the_configs_own_checks(tmp_path, capfd):
    """--device cuda with bfloat16 was refused as 'CUDA only; device is cpu', the config file blamed."""
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    path = bad_config(tmp_path, json.dumps(CONFIG))
    argv = ["train", "--config", str(path), "--run-dir", str(tmp_path / "run"), "--device", "cuda"]
    assert main([*argv, "--set", "train.precision=bfloat16"]) == 2
    err = capfd.readouterr().err
    assert "use --device cpu" in err and "CUDA only" not in err, err


def test_missing_data_is_named_before_anything_is_written(tmp_path, capfd, monkeypatch):
    monkeypatch.delenv("HYPERMAML_DATA", raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))  # the per-user default folder: not prepared
    path = bad_config(tmp_path, json.dumps({**CONFIG, "data": {"train": "omniglot-train"}}))
    assert main(["train", "--config", str(path), "--run-dir", str(tmp_path / "run")]) == 2
    assert "HYPERMAML_DATA" in capfd.readouterr().err and not (tmp_path / "run").exists()


@pytest.mark.parametrize(
    "checkpoint, says",
    [
        ("nowhere.pt", "no such checkpoint"),
        ("folder", "is a directory"),
        ("junk.pt", "not a checkpoint"),
    ],
)
def test_a_bad_checkpoint_to_evaluate_is_one_line(tmp_path, capfd, monkeypatch, checkpoint, says):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "folder").mkdir()
    (tmp_path / "junk.pt").write_bytes(b"\x00\x01 not a torch file" * 10)
    assert main(["evaluate", "--checkpoint", checkpoint, "--dataset", "digits", "--episodes", "2"]) == 2
    err = capfd.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1 and says in err, err
    assert not list(tmp_path.glob("*.json"))


def test_a_bundled_model_evaluates_by_name_from_any_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    out = evaluate_main(["--checkpoint", "omniglot_emnist_protonet_1shot", "--dataset", "digits", "--episodes", "3"])
    assert out["episodes"] == 3 and (tmp_path / "omniglot_emnist_protonet_1shot.eval_digits_1shot_3episodes.json").is_file()


def test_evaluate_takes_the_number_of_threads_as_train_does(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(2)
        argv = ["--checkpoint", "omniglot_emnist_protonet_1shot", "--dataset", "digits", "--episodes", "3", "--threads", "1"]
        alone = evaluate_main(argv)
        assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(threads)
    assert alone["mean"] == evaluate_main(argv[:-2])["mean"]  # the same episodes, the same answers


@pytest.mark.parametrize(
    "argv, says",
    [
        (["--checkpoint", "omniglot_emnist_hypermaml_1shot", "--n-way", "3"], "exactly 5 ways"),
        (["--checkpoint", "omniglot_emnist_maml_1shot", "--n-way", "4"], "exactly 5 ways"),
        (["--checkpoint", "omniglot_emnist_protonet_1shot", "--n-way", "11"], "n_way=11 needs at least 11"),
        (["--checkpoint", "omniglot_emnist_protonet_1shot", "--n-query", "200"], "n_query=200 needs at least 201"),
        (["--checkpoint", "omniglot_emnist_protonet_1shot", "--device", "cuda"], "use --device cpu"),
        (["--checkpoint", "toy_hypermaml"], "not of images"),
        (["--checkpoint", "omniglot_emnist_protonet_1shot", "--n-way", "1"], "--n-way must be at least 2"),
        (["--checkpoint", "omniglot_emnist_protonet_1shot", "--json", "nowhere/r.json"], "nowhere does not exist"),
        (["--checkpoint", "omniglot_emnist_protonet_1shot", "--json", "."], "is a folder"),
        (["--checkpoint", "omniglot_emnist_protonet_1shot", "--threads", "0"], "--threads must be positive"),
    ],
)
def test_an_impossible_evaluation_is_one_line_and_writes_nothing(tmp_path, capfd, monkeypatch, argv, says):
    if "cuda" in argv and torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    monkeypatch.chdir(tmp_path)
    assert main(["evaluate", *argv, "--dataset", "digits", "--episodes", "2"]) == 2
    err = capfd.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1 and says in err, err
    assert not list(tmp_path.iterdir())


def test_a_dataset_without_the_split_asked_for_names_its_splits(tmp_path, capfd):
    assert main(["evaluate", "--checkpoint", "omniglot_emnist_protonet_1shot", "--dataset", "emnist", "--split", "train"]) == 2
    err = capfd.readouterr().err
    assert "emnist has no 'train' split; --split takes val, test" in err, err


def test_evaluations_that_differ_write_to_different_default_files(tmp_path, monkeypatch):
    """Without --json the file name carries what changes the result, so one evaluation does not overwrite another."""
    monkeypatch.chdir(tmp_path)
    few = ["--dataset", "digits", "--episodes", "2"]
    evaluate_main(["--checkpoint", "omniglot_emnist_maml_1shot", *few])
    evaluate_main(["--checkpoint", "omniglot_emnist_maml_1shot", *few, "--steps", "1"])
    evaluate_main(["--checkpoint", "omniglot_emnist_maml_1shot", *few, "--query-batch", "1", "--seed", "3"])
    evaluate_main(["--checkpoint", "transductive/omniglot_emnist_maml_1shot", *few])
    evaluate_main(["--checkpoint", "omniglot_emnist_protonet_1shot", *few, "--n-way", "3", "--n-query", "5"])
    evaluate_main(["--checkpoint", "omniglot_emnist_maml_1shot", "--dataset", "digits", "--episodes", "3"])
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "omniglot_emnist_maml_1shot.eval_digits_1shot_1steps_2episodes.json",
        "omniglot_emnist_maml_1shot.eval_digits_1shot_2episodes.json",
        "omniglot_emnist_maml_1shot.eval_digits_1shot_3episodes.json",  # a smoke test beside the real 600
        "omniglot_emnist_maml_1shot.eval_digits_1shot_querybatch1_seed3_2episodes.json",
        "omniglot_emnist_protonet_1shot.eval_digits_1shot_3way_5query_2episodes.json",
        "transductive_omniglot_emnist_maml_1shot.eval_digits_1shot_2episodes.json",
    ]


def test_a_shipped_config_trains_by_its_name(tmp_path, capfd):
    from hypermaml.config import shipped_configs

    names = shipped_configs()
    assert names[0] == "omniglot_emnist_hypermaml_1shot" and "finetune/omniglot_emnist_hypermaml_1shot" in names
    for name in names:  # every shipped config loads by name, and none names a repository path
        run = load_run_config(name)
        assert run.train.init_from is None or hm.checkpoint.resolve(run.train.init_from).is_file()
        assert not (run.train.init_from or "").startswith("pretrained/")
    sets = ["train.epochs=1", "train.episodes_per_epoch=2", "train.meta_batch=1", "train.val_episodes=0", "train.n_query=2"]
    sets += ["data.train=digits", "data.val=null", "model.backbone.hidden=4", "model.hypermaml.hidden=8"]
    argv = ["train", "--config", "omniglot_emnist_hypermaml_1shot", "--run-dir", str(tmp_path / "run"), "--no-progress"]
    assert main([*argv, *[a for s in sets for a in ("--set", s)]]) == 0
    # no validation: best.pt is still written (the last epoch's) and loads; last.pt is refused with a pointer to it
    model = hm.load(tmp_path / "run" / "best.pt")
    assert model.config.method == "hypermaml" and model.metrics["best_epoch"] == 1
    capfd.readouterr()
    assert main(["evaluate", "--checkpoint", str(tmp_path / "run" / "last.pt"), "--dataset", "digits"]) == 2
    err = capfd.readouterr().err
    assert "training state" in err and "best.pt" in err and err.count("\n") == 1


def test_configs_lists_the_shipped_ones_and_an_unknown_name_lists_them_too(capfd):
    assert main(["configs"]) == 0
    out = capfd.readouterr().out
    assert "omniglot_emnist_protonet_5shot" in out and "from scratch" in out
    assert main(["configs", "--show", "omniglot_emnist_maml_1shot"]) == 0
    assert json.loads(capfd.readouterr().out)["model"]["method"] == "maml"
    assert main(["train", "--config", "omniglot_emnist_hypermaml_2shot", "--run-dir", "unused"]) == 2
    err = capfd.readouterr().err
    assert err.count("\n") == 1 and "omniglot_emnist_hypermaml_1shot" in err
    assert main(["configs", "--show", ""]) == 2  # said "config file '.' is a directory"
    assert "no config named" in capfd.readouterr().err


def test_version_comes_from_the_package(capsys):
    with pytest.raises(SystemExit) as stop:
        main(["--version"])
    assert stop.value.code == 0 and capsys.readouterr().out.strip() == f"hypermaml {hm.__version__}"


@pytest.mark.parametrize("command", [[], ["train"], ["evaluate"], ["configs"], ["data"], ["data", "prepare"]])
def test_help_reads_as_written(command, capsys):
    """``hypermaml evaluate --help`` printed "95%% CI" (a description is not %-formatted, a help string is) and
    left --episodes and --seed without their defaults."""
    with pytest.raises(SystemExit) as stop:
        main([*command, "--help"])
    out = capsys.readouterr().out
    assert stop.value.code == 0 and out.startswith("usage: ")
    assert "%%" not in out and "%(" not in out
    if command == ["evaluate"]:
        assert "95% CI" in out
        assert "(default: 600)" in out and "(default: 0)" in out


def test_output_into_a_pipe_closed_early_ends_quietly():
    """``hypermaml configs --show NAME | head -3`` ended in a BrokenPipeError traceback."""
    import subprocess
    import sys

    proc = subprocess.Popen(
        [sys.executable, "-m", "hypermaml", "configs", "--show", "omniglot_emnist_hypermaml_1shot"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    proc.stdout.close()  # the reader is gone before the command writes a byte
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=60) == 1
    assert "Traceback" not in err and "BrokenPipe" not in err, err
