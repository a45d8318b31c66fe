"""The committed Omniglot checkpoints (->EMNIST and Vinyals) reproduce the numbers stored beside them and in the README."""

import json
from pathlib import Path

import pytest
import torch

import hypermaml as hm
from benchmarks.omniglot_emnist import BENCHMARKS, EPISODES, checkpoint_path, measure
from hypermaml.data import load_split

ROOT = Path(__file__).resolve().parents[1]
COMMITTED = sorted(p for b in BENCHMARKS for p in (ROOT / "pretrained").glob(f"{b}_*.pt"))


def test_every_committed_benchmark_checkpoint_has_its_metrics_and_is_small():
    for path in COMMITTED:
        assert path.stat().st_size < 5_000_000, path
        stored = json.loads(path.with_suffix(".json").read_text())
        assert {"test_accuracy", "test_ci95", "test_protocol", "train_seconds", "history"} <= set(stored)


@pytest.mark.parametrize("path", COMMITTED, ids=[p.stem for p in COMMITTED])
def test_evaluation_reproduces_the_stored_test_accuracy(path):
    model = hm.load(path)
    stored = json.loads(path.with_suffix(".json").read_text())
    benchmark = next(b for b in BENCHMARKS if path.stem.startswith(b))
    test_split = BENCHMARKS[benchmark]["test"]
    assert stored["test_protocol"].startswith(test_split + ",")
    result = measure(model, load_split(test_split), model.config.n_shot, EPISODES)
    # same episodes (seeded): equal up to float noise in rare borderline queries on another CPU
    assert result.mean == pytest.approx(stored["test_accuracy"], abs=0.005)
    readme = (ROOT / "README.md").read_text()
    assert f"{100 * stored['test_accuracy']:.2f} ± {100 * stored['test_ci95']:.2f}" in readme


def test_checkpoint_names_follow_the_documented_pattern():
    assert checkpoint_path("hypermaml", 1).name == "omniglot_emnist_hypermaml_1shot.pt"
    assert checkpoint_path("maml", 1, "omniglot_vinyals").name == "omniglot_vinyals_maml_1shot.pt"
    names = {p.stem for p in COMMITTED}
    assert {f"omniglot_emnist_{m}_{k}shot" for m in ("hypermaml", "maml", "protonet") for k in (1, 5)} <= names
    assert {f"omniglot_vinyals_{m}_1shot" for m in ("hypermaml", "maml", "protonet")} <= names


def test_the_best_validation_run_of_each_row_is_imported(tmp_path):
    from benchmarks.omniglot_emnist import candidate_runs, import_runs
    import benchmarks.omniglot_emnist as bench

    cfg = hm.ModelConfig(method="protonet", backbone=hm.BackboneConfig(kind="identity", input_mean=(0.0, 0.0), input_std=(1.0, 1.0)))
    for name, val in [("protonet_1shot", 0.5), ("protonet_1shot_aug", 0.7), ("protonet_1shotx", 0.9), ("protonet_5shot_a", 0.6)]:
        run = tmp_path / "runs" / name
        run.mkdir(parents=True)
        hm.save(hm.build_model(cfg), run / "best.pt", metrics={"val_mean": val, "epoch": 1})
        (run / "metrics.jsonl").write_text('{"epoch": 1, "seconds": 60.0}\n')
        (run / "run_config.json").write_text('{"train": {"episodes_per_epoch": 100}, "data": {}}')
    # "protonet_1shotx" is another row's name pattern, not a variant of protonet_1shot
    assert [d.name for d in candidate_runs(tmp_path / "runs", "protonet_1shot")] == ["protonet_1shot", "protonet_1shot_aug"]
    original = bench.PRETRAINED
    bench.PRETRAINED = tmp_path / "pretrained"
    bench.PRETRAINED.mkdir()
    try:
        import_runs(tmp_path / "runs", hardware="test")
        imported = hm.load(bench.checkpoint_path("protonet", 1))
        assert imported.metrics["run"] == "protonet_1shot_aug"
        assert imported.metrics["chosen_by_validation_from"] == {"protonet_1shot": 0.5, "protonet_1shot_aug": 0.7}
        assert hm.load(bench.checkpoint_path("protonet", 5)).metrics["run"] == "protonet_5shot_a"
    finally:
        bench.PRETRAINED = original


@pytest.mark.parametrize("path", COMMITTED, ids=[p.stem for p in COMMITTED])
def test_a_committed_model_works_on_any_dark_on_light_28px_images(path):
    # scikit-learn's digits were never seen in training; the input convention alone makes them usable.
    from hypermaml.data import load_digits

    model = hm.load(path)
    digits = load_digits()
    sampler = hm.EpisodeSampler(digits.x, digits.y, 5, model.config.n_shot, 10)
    result = hm.evaluate(model, sampler, n_episodes=40, seed=0)
    assert result.mean > 0.5  # chance is 0.2
    ep = sampler.sample(torch.Generator().manual_seed(1))
    assert model.logits(ep.query_x, model.adapt(ep.support_x, ep.support_y)).shape == (50, 5)


@pytest.mark.parametrize("path", COMMITTED, ids=[p.stem for p in COMMITTED])
def test_each_checkpoint_was_trained_by_the_config_of_its_name(path):
    # "produced by the configs in the repo": the run's recorded config is hypermaml/configs/<name>.json
    # (the device aside), and the config's epochs are the epochs the run went through.
    import dataclasses

    from hypermaml.config import ModelConfig, TrainConfig, from_dict

    stored = json.loads(path.with_suffix(".json").read_text())
    config = json.loads((ROOT / "hypermaml" / "configs" / f"{path.stem}.json").read_text())
    run = stored["run_config"]
    assert from_dict(ModelConfig, run["model"]) == from_dict(ModelConfig, config["model"]) == hm.load(path).config
    ran = dataclasses.replace(from_dict(TrainConfig, run["train"]), epochs=stored["epochs_run"], device="cpu")
    assert ran == dataclasses.replace(from_dict(TrainConfig, config["train"]), device="cpu")
    assert run["data"] == config["data"]
    assert len(stored["history"]) == stored["epochs_run"] and stored["epoch"] <= stored["epochs_run"]
