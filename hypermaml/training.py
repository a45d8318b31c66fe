"""Episodic meta-training: one loop for every method, with validation, checkpoints and resume."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
from tqdm.auto import tqdm

from .augment import augment_episode
from .base import FewShotModel
from .checkpoint import atomic_torch_save, save
from .config import TrainConfig, to_dict
from .episodes import Sampler
from .evaluation import evaluate

# on_step(step, total_steps, loss, accuracy): called after every optimiser step (the studio draws a
# progress bar and a loss curve with it).
StepCallback = Callable[[int, int, float, float], None]


@dataclass(frozen=True)
class TrainResult:
    """``history`` holds one dict per epoch: epoch, loss, accuracy, val_mean, val_ci95, seconds."""

    history: list[dict]
    best_epoch: int
    best_val: float | None


def meta_train(
    model: FewShotModel,
    sampler: Sampler,
    cfg: TrainConfig,
    *,
    val_sampler: Sampler | None = None,
    run_dir: str | Path | None = None,
    resume: bool = False,
    progress: bool = True,
    print_epochs: bool | None = None,
    on_step: StepCallback | None = None,
    max_seconds: float | None = None,
) -> TrainResult:
    """Meta-train ``model`` in place on episodes from ``sampler``.

    Every epoch: ``episodes_per_epoch // meta_batch`` Adam steps on the mean query loss of ``meta_batch``
    episodes, then (with ``val_sampler``) evaluation on ``val_episodes`` fixed validation episodes. The
    weights with the best validation accuracy are kept and loaded into ``model`` at the end.

    With ``run_dir``: ``last.pt`` (full training state, written atomically after every epoch),
    ``best.pt`` (a loadable model checkpoint) and ``metrics.jsonl`` (one line per epoch). ``resume=True``
    continues from ``last.pt`` and reproduces an uninterrupted run with the same seed.

    ``max_seconds`` ends training early, between epochs, when one more epoch (as long as the mean epoch so
    far, validation included) would end past that many seconds of this call; ``TrainResult.history`` says how many epochs ran.

    ``progress`` shows a progress bar; ``print_epochs`` (default: same as ``progress``) prints one line
    per epoch, which is what a log file wants.
    """
    print_epochs = progress if print_epochs is None else print_epochs
    device = torch.device(cfg.device)
    model.to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    generator = torch.Generator().manual_seed(cfg.seed)
    steps_per_epoch = max(1, cfg.episodes_per_epoch // cfg.meta_batch)
    history: list[dict] = []
    best = {"epoch": -1, "val": None, "state": None}
    start_epoch = 0
    if cfg.init_from:
        init_weights(model, cfg.init_from)
    run_dir = Path(run_dir) if run_dir is not None else None
    if run_dir is not None:
        run_dir.mkdir(parents=True, exist_ok=True)
        if resume and (run_dir / "last.pt").is_file():
            state = torch.load(run_dir / "last.pt", map_location=device, weights_only=True)
            model.load_state_dict(state["model"])
            optimizer.load_state_dict(state["optimizer"])
            generator.set_state(state["generator"].cpu())
            history, best, start_epoch = state["history"], state["best"], state["epoch"]
            # A kill between the log line and last.pt could leave an extra line: the log follows last.pt.
            (run_dir / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in history))
        else:  # a fresh start (or nothing to resume from): no stale log lines
            (run_dir / "metrics.jsonl").unlink(missing_ok=True)

    total_steps = cfg.epochs * steps_per_epoch
    running_stats = getattr(model.config.backbone, "batch_norm", None) == "running" and hasattr(
        model.backbone, "update_running_stats"
    )
    call_started = time.perf_counter()
    for epoch in range(start_epoch, cfg.epochs):
        if max_seconds is not None and epoch > start_epoch:
            elapsed = time.perf_counter() - call_started
            if elapsed * (epoch - start_epoch + 1) / (epoch - start_epoch) > max_seconds:
                if print_epochs:
                    tqdm.write(f"stopping after epoch {epoch}: the time limit of {max_seconds:.0f} s would be passed")
                break
        model.train()
        started = time.perf_counter()
        loss_sum = acc_sum = 0.0
        bar = tqdm(range(steps_per_epoch), desc=f"epoch {epoch + 1}/{cfg.epochs}", disable=not progress, leave=False)
        for step in bar:
            optimizer.zero_grad(set_to_none=True)
            losses, correct, count, episodes = [], 0, 0, []
            for _ in range(cfg.meta_batch):
                episode = augment_episode(sampler.sample(generator).to(device), cfg.augment, generator)
                loss, logits = model.meta_loss(episode, epoch=epoch)
                losses.append(loss)
                episodes.append(episode)
                correct += int((logits.argmax(-1) == episode.query_y).sum())
                count += len(episode.query_y)
            loss = torch.stack(losses).mean()
            loss.backward()
            optimizer.step()
            if running_stats:  # the one explicit place running BatchNorm statistics change
                for ep in episodes:
                    model.backbone.update_running_stats(ep.support_x)
                    model.backbone.update_running_stats(ep.query_x)
            loss_sum += loss.item()
            acc_sum += correct / count
            bar.set_postfix(loss=f"{loss_sum / (step + 1):.3f}", acc=f"{acc_sum / (step + 1):.3f}")
            if on_step is not None:
                on_step(epoch * steps_per_epoch + step + 1, total_steps, loss.item(), correct / count)
        record = {
            "epoch": epoch + 1,
            "loss": loss_sum / steps_per_epoch,
            "accuracy": acc_sum / steps_per_epoch,
            "seconds": time.perf_counter() - started,
        }
        if val_sampler is not None and cfg.val_episodes > 0:
            val = evaluate(model, val_sampler, cfg.val_episodes, seed=cfg.seed + 1)
            record.update(val_mean=val.mean, val_ci95=val.ci95)
            if best["val"] is None or val.mean > best["val"]:
                best = {"epoch": epoch + 1, "val": val.mean, "state": _cpu_state(model)}
                if run_dir is not None:
                    save(
                        model,
                        run_dir / "best.pt",
                        metrics=train_metrics(cfg, history + [record], best["epoch"], val.mean, val.ci95),
                    )
        history.append(record)
        if print_epochs:
            tqdm.write(" ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in record.items()))
        if run_dir is not None:
            with open(run_dir / "metrics.jsonl", "a") as f:
                f.write(json.dumps(record) + "\n")
            atomic_torch_save(
                {
                    "model": _cpu_state(model),
                    "optimizer": optimizer.state_dict(),
                    "generator": generator.get_state(),
                    "history": history,
                    "best": best,
                    "epoch": epoch + 1,
                    "config": to_dict(model.config),
                    "train_config": to_dict(cfg),
                },
                run_dir / "last.pt",
            )
    if best["state"] is not None:
        model.load_state_dict(best["state"])
    model.eval()
    best_record = next((r for r in history if r["epoch"] == best["epoch"]), {})
    model.metrics = train_metrics(cfg, history, best["epoch"], best["val"], best_record.get("val_ci95"))
    return TrainResult(history=history, best_epoch=best["epoch"], best_val=best["val"])


def train_metrics(cfg: TrainConfig, history: list[dict], best_epoch: int, val_mean: float | None, val_ci95: float | None) -> dict:
    """The one metrics record of a training run, as ``meta_train`` leaves it in ``model.metrics`` and in
    ``best.pt``: the chosen epoch (-1 without validation: the last weights are kept), its validation score,
    the epochs that ran and the schedule. Benchmarks and the toy add their test numbers to it."""
    return {
        "best_epoch": best_epoch,
        "val_mean": val_mean,
        "val_ci95": val_ci95,
        "epochs_run": len(history),
        "train_history": history,
        "train_config": to_dict(cfg),
    }


def init_weights(model: FewShotModel, path: str | Path) -> None:
    """Start from the weights of checkpoint ``path`` (``TrainConfig.init_from``). Tensors the model has and
    the file lacks (a new normalisation's parameters or buffers) keep their initial values; anything else
    that does not fit is an error naming the keys."""
    from .checkpoint import read_checkpoint

    state = read_checkpoint(path)["state_dict"]  # a path or a bundled name; CheckpointError if it is not one
    result = model.load_state_dict(state, strict=False)
    if result.unexpected_keys:
        raise ValueError(f"init_from {path}: the checkpoint has weights this model lacks: {result.unexpected_keys}")


def _cpu_state(model: FewShotModel) -> dict[str, torch.Tensor]:
    return {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
