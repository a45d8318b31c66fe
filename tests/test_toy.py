"""The toy task distribution, and the committed toy checkpoints against the issue's figures."""

import json
from pathlib import Path

import pytest
import torch

import hypermaml as hm
from toy.tasks import PAIRS, TASK_TYPES, ToyTaskSampler, bayes_accuracy, input_statistics, sample_task
from toy.train import EVAL_SEED, EVAL_TASKS, N_QUERY, N_SHOT, evaluate_every_step, measure
from toy.train import main as train_main

PRETRAINED = Path(__file__).resolve().parents[1] / "pretrained"


def test_the_bayes_accuracy_is_phi_of_one_and_a_half():
    assert bayes_accuracy() == pytest.approx(0.9331928, abs=1e-6)


def test_tasks_follow_the_paper_s_four_gaussians():
    g = torch.Generator().manual_seed(0)
    ep = sample_task("vertical", False, 2000, 0, g)
    a, b = ep.support_x[ep.support_y == 0], ep.support_x[ep.support_y == 1]
    assert torch.allclose(a.mean(0), torch.tensor([1.0, 7.0]), atol=0.15)
    assert torch.allclose(b.mean(0), torch.tensor([4.0, 7.0]), atol=0.15)
    assert torch.allclose(a.std(0), torch.tensor([1.0, 2.0]), atol=0.1)
    swapped = sample_task("horizontal", True, 2000, 0, g)
    assert torch.allclose(swapped.support_x[swapped.support_y == 0].mean(0), torch.tensor([-7.0, -4.0]), atol=0.15)
    assert torch.allclose(swapped.support_x.std(0)[0], torch.tensor(2.0), atol=0.1)
    assert len(TASK_TYPES) == 4 and set(PAIRS) == {"vertical", "horizontal"}


def test_shift_and_rotation_move_the_task_off_the_training_distribution():
    g = torch.Generator().manual_seed(0)
    ep = sample_task("vertical", False, 2000, 0, g, shift=(10.0, 0.0), rotation_deg=90.0)
    # rotating the pair 90 degrees about its midpoint (2.5, 7) puts class 0 at (2.5, 5.5), then shift x by 10
    assert torch.allclose(ep.support_x[ep.support_y == 0].mean(0), torch.tensor([12.5, 5.5]), atol=0.15)
    with pytest.raises(ValueError, match="unknown pair"):
        sample_task("diagonal", False, 1, 1)


def test_input_statistics_match_samples_of_the_task_distribution():
    mean, std = input_statistics()
    pts = torch.cat([ToyTaskSampler(500, 0).sample(torch.Generator().manual_seed(s)).support_x for s in range(200)])
    assert torch.allclose(pts.mean(0), torch.tensor(mean), atol=0.3)
    assert torch.allclose(pts.std(0), torch.tensor(std), atol=0.3)


@pytest.fixture(scope="module")
def committed():
    return {name: hm.load(PRETRAINED / f"toy_{name}.pt") for name in ("hypermaml", "maml", "protonet")}


def test_hypermaml_one_update_reaches_92_percent_on_1000_fresh_tasks(committed):
    result = hm.evaluate(committed["hypermaml"], ToyTaskSampler(N_SHOT, N_QUERY), EVAL_TASKS, seed=EVAL_SEED + 1)
    assert result.mean >= 0.92


def test_one_maml_step_is_at_least_ten_points_below_hypermaml(committed):
    sampler = ToyTaskSampler(N_SHOT, N_QUERY)
    hyper = hm.evaluate(committed["hypermaml"], sampler, EVAL_TASKS, seed=EVAL_SEED + 2).mean
    maml_1 = hm.evaluate(committed["maml"], sampler, EVAL_TASKS, seed=EVAL_SEED + 2, steps=1).mean
    assert maml_1 <= hyper - 0.10


def test_the_committed_metrics_files_are_what_the_checkpoints_measure(committed):
    for name, model in committed.items():
        stored = json.loads((PRETRAINED / f"toy_{name}.json").read_text())
        assert model.metrics["accuracy"] == stored["accuracy"]
        fresh = measure(model)  # same tasks (seeded), so the same numbers up to float noise
        for key, value in fresh.items():
            assert stored[key] == pytest.approx(value, abs=1e-3), (name, key)


def test_every_maml_step_scored_from_one_trajectory_is_what_evaluate_gives_at_that_step(committed):
    # measure() scores MAML after 0..10 steps from one 10-step inner loop per task (evaluate_every_step)
    sampler = ToyTaskSampler(N_SHOT, N_QUERY)
    every = evaluate_every_step(committed["maml"], sampler, 30, seed=5, steps=range(4))
    assert list(every) == [0, 1, 2, 3]
    for k, result in every.items():
        alone = hm.evaluate(committed["maml"], sampler, 30, seed=5, steps=k)
        assert result.accuracies.tolist() == alone.accuracies.tolist(), k
        assert (result.mean, result.ci95) == (alone.mean, alone.ci95), k
    assert every[0].mean < every[1].mean  # the steps really differ


def test_the_training_command_writes_three_loadable_checkpoints(tmp_path, monkeypatch):
    # The command's wiring, not its accuracy (test_the_committed_metrics_files_are_what_the_checkpoints_measure
    # checks the numbers): every recipe's epochs at one optimiser step each, 10 validation tasks an epoch
    # and 100 evaluation tasks. --quick alone trains and evaluates for half a minute.
    import dataclasses
    import functools

    import toy.train

    recipes = toy.train.recipes

    def smoke(scale: int) -> dict:
        return {
            name: dataclasses.replace(
                r,
                train=dataclasses.replace(
                    r.train, episodes_per_epoch=r.train.meta_batch, val_episodes=min(r.train.val_episodes, 10)
                ),
            )
            for name, r in recipes(scale).items()
        }

    monkeypatch.setattr(toy.train, "recipes", smoke)
    monkeypatch.setattr(toy.train, "measure", functools.partial(toy.train.measure, n_tasks=100))
    threads = torch.get_num_threads()
    try:
        train_main(["--out", str(tmp_path), "--quick"])
    finally:
        torch.set_num_threads(threads)  # the command sets one thread for its process
    for name in ("hypermaml", "maml", "protonet"):
        model = hm.load(tmp_path / f"toy_{name}.pt")
        assert json.loads((tmp_path / f"toy_{name}.json").read_text())["accuracy"] == model.metrics["accuracy"]


def test_the_readme_table_is_the_stored_metrics():
    from toy.report import markdown_table

    stored = {name: json.loads((PRETRAINED / f"toy_{name}.json").read_text()) for name in ("hypermaml", "maml", "protonet")}
    readme = (PRETRAINED.parent / "README.md").read_text()
    assert markdown_table(stored) in readme
