import json
import re
import subprocess
from pathlib import Path

import pytest
import torch

import hypermaml as hm
from toy.tasks import ToyTaskSampler
from toy.train import toy_backbone

CFG = hm.TrainConfig(epochs=3, episodes_per_epoch=64, meta_batch=8, lr=3e-3, n_query=5, val_episodes=20, seed=5)


def fresh_model():
    torch.manual_seed(0)
    return hm.build_model(
        hm.ModelConfig(
            method="hypermaml",
            n_way=2,
            n_shot=3,
            backbone=toy_backbone(),
            hypermaml=hm.HyperMAMLConfig(hidden=16, warmup_epochs=1, blend_epochs=1, warmup_inner_lr=0.5, warmup_steps=1),
        )
    )


def test_meta_training_lowers_the_loss_and_keeps_the_best_validation_weights(tmp_path):
    model = fresh_model()
    sampler = ToyTaskSampler(3, 5)
    result = hm.meta_train(
        model,
        sampler,
        hm.TrainConfig(epochs=3, episodes_per_epoch=400, meta_batch=8, lr=3e-3, n_query=5, val_episodes=50),
        val_sampler=sampler,
        run_dir=tmp_path,
        progress=False,
    )
    losses = [h["loss"] for h in result.history]
    assert losses[-1] < losses[0]
    assert result.best_val == max(h["val_mean"] for h in result.history)
    lines = (tmp_path / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(line)["epoch"] for line in lines] == [1, 2, 3]
    best = hm.load(tmp_path / "best.pt")
    assert best.metrics["val_mean"] == result.best_val
    assert not model.training
    # what trained it, for whoever retrains it: versions, and this clone's commit (CI runs in a clone)
    software = best.metrics["software"]
    assert (software["torch"], software["hypermaml"]) == (torch.__version__, hm.__version__)
    root = Path(__file__).resolve().parents[1]
    try:
        head = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True)
    except OSError:  # no git here
        head = None
    if (root / ".git").exists() and head is not None and head.returncode == 0:
        assert re.fullmatch(r"[0-9a-f]{40}(\+changes)?", software["commit"] or ""), software
        assert software["commit"].startswith(head.stdout.strip())
    else:  # a wheel, or git missing or refusing this folder
        assert software["commit"] is None


class Interrupt(Exception):
    pass


@pytest.mark.parametrize("schedule,ema", [("constant", 0.0), ("cosine", 0.0), ("constant", 0.9)])
def test_resuming_after_an_interruption_matches_an_uninterrupted_run(tmp_path, schedule, ema, monkeypatch):
    from dataclasses import replace

    import hypermaml.training

    cfg = replace(CFG, lr_schedule=schedule, ema_decay=ema)
    sampler = ToyTaskSampler(3, 5)
    straight = fresh_model()
    hm.meta_train(straight, sampler, cfg, val_sampler=sampler, run_dir=tmp_path / "a", progress=False)

    def crash_in_epoch_three(step, total, loss, acc):
        if step == 2 * (cfg.episodes_per_epoch // cfg.meta_batch) + 3:
            raise Interrupt

    interrupted = fresh_model()
    with pytest.raises(Interrupt):
        hm.meta_train(
            interrupted, sampler, cfg, val_sampler=sampler, run_dir=tmp_path / "b", progress=False, on_step=crash_in_epoch_three
        )
    started_by = hypermaml.training.software()
    later = {"torch": "9.9.9", "hypermaml": "9.9", "commit": "0" * 40}  # as if another version resumed it
    monkeypatch.setattr(hypermaml.training, "software", lambda: later)
    resumed = fresh_model()  # a new process would start from a fresh model too
    steps = []
    result = hm.meta_train(
        resumed,
        sampler,
        cfg,
        val_sampler=sampler,
        run_dir=tmp_path / "b",
        resume=True,
        progress=False,
        on_step=lambda step, *_: steps.append(step),
    )
    per_epoch = cfg.episodes_per_epoch // cfg.meta_batch
    assert steps == list(range(2 * per_epoch + 1, 3 * per_epoch + 1))  # only epoch 3 ran again: a resume, no restart
    assert [h["epoch"] for h in result.history] == [1, 2, 3]
    # both processes are on record, each with the first epoch it trained: the model's metrics and best.pt's
    runs = [{"from_epoch": 1, **started_by}, {"from_epoch": 3, **later}]
    assert resumed.metrics["software_runs"] == runs and resumed.metrics["software"] == later
    # best.pt was written by the process that trained its epoch
    assert hm.load(tmp_path / "b" / "best.pt").metrics["software_runs"] == (runs if result.best_epoch == 3 else runs[:1])
    assert straight.metrics["software_runs"] == [{"from_epoch": 1, **started_by}]
    for key, value in straight.state_dict().items():
        assert torch.allclose(value, resumed.state_dict()[key], atol=1e-6), key
    if ema:  # the weight average went on from where it was, not from the resumed weights
        a, b = (torch.load(tmp_path / run / "last.pt", weights_only=True) for run in ("a", "b"))
        assert a["ema_steps"] == b["ema_steps"] == 3 * per_epoch
        for key, value in a["ema"].items():
            assert torch.allclose(value, b["ema"][key], atol=1e-6), key
    a = [json.loads(x)["loss"] for x in (tmp_path / "a" / "metrics.jsonl").read_text().splitlines()]
    b = [json.loads(x)["loss"] for x in (tmp_path / "b" / "metrics.jsonl").read_text().splitlines()]
    assert a == pytest.approx(b, abs=1e-6)


def test_a_run_saved_before_software_runs_resumes_with_its_start_unknown_and_a_finished_one_adds_nothing(tmp_path):
    from dataclasses import replace

    sampler = ToyTaskSampler(3, 5)
    short = replace(CFG, epochs=2)
    hm.meta_train(fresh_model(), sampler, short, val_sampler=sampler, run_dir=tmp_path, progress=False)
    state = torch.load(tmp_path / "last.pt", weights_only=True)
    assert state["software_runs"] == [{"from_epoch": 1, **hm.training.software()}]
    del state["software_runs"]  # as last.pt was written before it was recorded
    torch.save(state, tmp_path / "last.pt")
    resumed = fresh_model()
    hm.meta_train(resumed, sampler, CFG, val_sampler=sampler, run_dir=tmp_path, resume=True, progress=False)
    unknown = {"from_epoch": 1, "torch": None, "hypermaml": None, "commit": None}
    runs = [unknown, {"from_epoch": 3, **hm.training.software()}]
    assert resumed.metrics["software_runs"] == runs
    again = fresh_model()  # all 3 epochs done: a resume trains nothing, and says so by adding no process
    result = hm.meta_train(again, sampler, CFG, val_sampler=sampler, run_dir=tmp_path, resume=True, progress=False)
    assert [h["epoch"] for h in result.history] == [1, 2, 3]
    assert again.metrics["software_runs"] == runs


def test_with_ema_decay_the_model_returned_and_saved_is_the_moving_average_of_the_trained_weights(tmp_path):
    from dataclasses import replace

    decay = 0.9
    cfg = replace(CFG, ema_decay=decay, val_episodes=0)  # no validation: the average after the last step
    model = fresh_model()
    average = {}

    def follow(step, *_):  # the average by hand: the first step's weights, then decay * average + (1 - decay) * w
        for name, value in model.state_dict().items():
            if not value.is_floating_point():
                average[name] = value.clone()
            elif name not in average:
                average[name] = value.detach().clone()
            else:
                average[name] = decay * average[name] + (1 - decay) * value.detach()
        trained.update({k: v.detach().clone() for k, v in model.state_dict().items()})

    trained = {}
    hm.meta_train(model, ToyTaskSampler(3, 5), cfg, run_dir=tmp_path, progress=False, on_step=follow)
    saved = hm.load(tmp_path / "best.pt").state_dict()
    floats = [k for k, v in trained.items() if v.is_floating_point()]
    assert floats and any(not torch.allclose(model.state_dict()[k], trained[k]) for k in floats)  # not the last weights
    for key in floats:
        assert torch.allclose(model.state_dict()[key], average[key], atol=1e-5), key
        assert torch.equal(saved[key], model.state_dict()[key]), key


def test_on_step_reports_every_optimiser_step():
    seen = []
    hm.meta_train(
        fresh_model(),
        ToyTaskSampler(3, 5),
        hm.TrainConfig(epochs=2, episodes_per_epoch=16, meta_batch=4, val_episodes=0),
        progress=False,
        on_step=lambda s, t, loss, acc: seen.append((s, t)),
    )
    assert seen == [(i, 8) for i in range(1, 9)]


def test_the_cosine_schedule_falls_from_lr_to_zero_and_changes_training():
    from hypermaml.training import cosine_lr

    rates = [cosine_lr(0.01, step, 100) for step in range(101)]
    assert rates[0] == 0.01 and rates[50] == pytest.approx(0.005) and rates[100] == pytest.approx(0.0, abs=1e-12)
    assert all(a > b for a, b in zip(rates, rates[1:]))
    sampler = ToyTaskSampler(3, 5)
    from dataclasses import replace

    models = {}
    for schedule in ("constant", "cosine"):
        models[schedule] = fresh_model()
        hm.meta_train(models[schedule], sampler, replace(CFG, val_episodes=0, lr_schedule=schedule), progress=False)
    constant, cosine = models["constant"].state_dict(), models["cosine"].state_dict()
    assert any(not torch.equal(constant[k], cosine[k]) for k in constant)


def test_the_progress_label_says_how_many_episodes_each_counted_step_is(monkeypatch):
    import hypermaml.training as training
    from hypermaml.progress import progress as progress_bar

    labels = []

    def spy(iterable, total, desc, enabled=True, interval=60.0):
        labels.append((desc, total))
        return progress_bar(iterable, total, desc, enabled=False)

    monkeypatch.setattr(training, "progress_bar", spy)
    cfg = hm.TrainConfig(epochs=2, episodes_per_epoch=32, meta_batch=8, n_query=5, val_episodes=0)
    hm.meta_train(fresh_model(), ToyTaskSampler(3, 5), cfg, print_epochs=False)
    assert labels == [("epoch 1/2, steps of 8 episodes", 4), ("epoch 2/2, steps of 8 episodes", 4)]
