"""The committed Omniglot->EMNIST checkpoints reproduce the numbers stored beside them (and in the README)."""

import json
from pathlib import Path

import pytest
import torch

import hypermaml as hm
from benchmarks.omniglot_emnist import EPISODES, checkpoint_path, measure
from hypermaml.data import load_split

ROOT = Path(__file__).resolve().parents[1]
COMMITTED = sorted(p for p in (ROOT / "pretrained").glob("omniglot_emnist_*.pt"))


def test_every_committed_benchmark_checkpoint_has_its_metrics_and_is_small():
    for path in COMMITTED:
        assert path.stat().st_size < 5_000_000, path
        stored = json.loads(path.with_suffix(".json").read_text())
        assert {"test_accuracy", "test_ci95", "test_protocol", "train_seconds", "history"} <= set(stored)


@pytest.mark.parametrize("path", COMMITTED, ids=[p.stem for p in COMMITTED])
def test_evaluation_reproduces_the_stored_test_accuracy(path):
    model = hm.load(path)
    stored = json.loads(path.with_suffix(".json").read_text())
    result = measure(model, load_split("emnist-test"), model.config.n_shot, EPISODES)
    # same episodes (seeded): equal up to float noise in rare borderline queries on another CPU
    assert result.mean == pytest.approx(stored["test_accuracy"], abs=0.005)
    readme = (ROOT / "README.md").read_text()
    assert f"{100 * stored['test_accuracy']:.2f} ± {100 * stored['test_ci95']:.2f}" in readme


def test_checkpoint_names_follow_the_documented_pattern():
    assert checkpoint_path("hypermaml", 1).name == "omniglot_emnist_hypermaml_1shot.pt"


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
