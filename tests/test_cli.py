"""The training and evaluation command lines, end to end on the always-available digits."""

import json

import pytest
import torch

import hypermaml as hm
from hypermaml.evaluate import main as evaluate_main
from hypermaml.train import load_run_config, main as train_main

CONFIG = {
    "model": {"method": "hypermaml", "n_way": 3, "n_shot": 1,
              "backbone": {"kind": "conv4", "hidden": 8, "input_mean": [0.7], "input_std": [0.4]},
              "hypermaml": {"hidden": 16}},
    "train": {"epochs": 2, "episodes_per_epoch": 8, "meta_batch": 2, "n_query": 3, "val_episodes": 5},
    "data": {"train": "digits", "val": "digits"},
}


def test_overrides_are_parsed_as_json_where_possible(tmp_path):
    path = tmp_path / "c.json"
    path.write_text(json.dumps(CONFIG))
    raw = load_run_config(path, ["train.epochs=7", "model.hypermaml.aggregation=mean", "train.lr=0.5"])
    assert raw["train"]["epochs"] == 7 and raw["train"]["lr"] == 0.5
    assert raw["model"]["hypermaml"]["aggregation"] == "mean"
    with pytest.raises(ValueError, match="section.field=value"):
        load_run_config(path, ["train.epochs"])


def test_toml_configs_are_read_too(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text('[model]\nmethod = "protonet"\nn_way = 3\n[train]\nepochs = 1\n[data]\ntrain = "digits"\n')
    assert load_run_config(path)["model"]["method"] == "protonet"


def test_train_then_evaluate_from_the_command_line(tmp_path, capsys):
    path = tmp_path / "c.json"
    path.write_text(json.dumps(CONFIG))
    out = tmp_path / "model.pt"
    train_main(["--config", str(path), "--run-dir", str(tmp_path / "run"), "--out", str(out), "--no-progress", "--set", "train.epochs=1"])
    model = hm.load(out)
    assert model.config.n_way == 3 and model.metrics["best_epoch"] == 1
    assert (tmp_path / "run" / "metrics.jsonl").read_text().count("\n") == 1
    # resume extends the same run to two epochs
    train_main(["--config", str(path), "--run-dir", str(tmp_path / "run"), "--resume", "--no-progress"])
    assert (tmp_path / "run" / "metrics.jsonl").read_text().count("\n") == 2
    result = evaluate_main(["--checkpoint", str(out), "--dataset", "digits", "--n-way", "3", "--episodes", "20", "--json", str(tmp_path / "e.json")])
    assert 0 <= result["mean"] <= 1 and result["episodes"] == 20
    assert json.loads((tmp_path / "e.json").read_text())["accuracy_pct"] == round(100 * result["mean"], 2)
    assert "± " in capsys.readouterr().out


def test_steps_is_refused_for_a_method_without_an_inner_loop(tmp_path):
    out = tmp_path / "p.pt"
    hm.save(hm.build_model(hm.ModelConfig(method="protonet", n_way=3, backbone=hm.BackboneConfig(hidden=8))), out)
    with pytest.raises(SystemExit):
        evaluate_main(["--checkpoint", str(out), "--dataset", "digits", "--steps", "3", "--episodes", "2"])


def test_importing_the_evaluate_command_keeps_hm_evaluate_callable():
    import hypermaml.evaluate  # noqa: F401  (binds the submodule on the package)
    from toy.tasks import ToyTaskSampler

    model = hm.build_model(hm.ModelConfig(method="protonet", n_way=2, backbone=hm.BackboneConfig(kind="identity", in_channels=2, input_mean=(0.0, 0.0), input_std=(1.0, 1.0))))
    assert hm.evaluate(model, ToyTaskSampler(1, 2), n_episodes=3).n_episodes == 3


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
    args = [sys.executable, "-m", "hypermaml.train", "--config", str(path), "--no-progress", "--threads", "1"]

    subprocess.run(args + ["--run-dir", str(tmp_path / "straight")], check=True, env=env, capture_output=True)

    run = tmp_path / "killed"
    proc = subprocess.Popen(args + ["--run-dir", str(run)], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while not (run / "metrics.jsonl").is_file() or (run / "metrics.jsonl").read_text().count("\n") < 1:
        assert time.time() < deadline and proc.poll() is None, "the run ended before it could be killed"
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)  # mid-run: after epoch 1 was saved, during epoch 2
    proc.wait()
    assert (run / "metrics.jsonl").read_text().count("\n") < 3
    subprocess.run(args + ["--run-dir", str(run), "--resume"], check=True, env=env, capture_output=True)

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
    with pytest.raises(SystemExit):
        evaluate_main(args + ["--query-batch", "0"])
