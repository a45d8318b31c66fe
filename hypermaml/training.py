"""Episodic meta-training: one loop for every method, with validation, checkpoints and resume."""

from __future__ import annotations

import contextlib
import functools
import json
import math
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn

import numpy as np
import torch
import torch.distributed as dist
from torch import nn
from tqdm.auto import tqdm

from .augment import augment_episode
from .base import FewShotModel
from .checkpoint import atomic_torch_save, save
from .config import TrainConfig, to_dict
from .episodes import Sampler
from .evaluation import evaluate
from .progress import progress as progress_bar
from .vectorise import meta_batch_loss

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

    Every epoch: ``episodes_per_epoch // (meta_batch * world_size)`` Adam steps on the mean query loss of
    ``meta_batch`` episodes per process, then (with ``val_sampler``) evaluation on ``val_episodes`` fixed
    validation episodes. The weights with the best validation accuracy are kept and loaded into ``model`` at
    the end. With ``ema_decay`` those weights are an exponential moving average of the trained ones: the average
    is validated, kept and returned, and ``last.pt`` carries it on.

    Data parallel: when ``torch.distributed`` is initialised (``hypermaml train`` under ``torchrun`` does it),
    each of the ``world_size`` processes draws its own reproducible episode stream (``episode_generator(seed,
    rank)``), ``DistributedDataParallel`` averages the gradients, so N processes with ``meta_batch`` B train as
    one process with meta-batch N*B over the same episodes; rank 0 alone validates (and shares the result),
    prints and writes files. Process 0's stream is the one a single process draws.

    With ``run_dir``: ``last.pt`` (full training state, written atomically after every epoch),
    ``best.pt`` (a loadable model checkpoint) and ``metrics.jsonl`` (one line per epoch). ``resume=True``
    continues from ``last.pt`` and reproduces an uninterrupted run with the same seed and world size (another
    world size raises ``ValueError``).

    ``max_seconds`` ends training early, between epochs, when one more epoch (as long as the mean epoch so
    far, validation included) would end past that many seconds of this call; ``TrainResult.history`` says how many epochs ran.

    ``progress`` shows a progress bar; ``print_epochs`` (default: same as ``progress``) prints one line
    per epoch, which is what a log file wants.
    """
    software()  # what runs this training, read now (cached): the clone may change while it trains
    rank, world_size = distributed_context()
    lead = rank == 0
    print_epochs = (progress if print_epochs is None else print_epochs) and lead
    device = torch.device(cfg.device)
    model.to(device)
    # fused: one kernel per parameter instead of a dozen small operations each; the same update up to float
    # rounding
    optimizer = torch.optim.Adam(model.parameters(), lr=cfg.lr, fused=device.type in ("cpu", "cuda"))
    generator = episode_generator(cfg.seed, rank)
    steps_per_epoch = max(1, cfg.episodes_per_epoch // (cfg.meta_batch * world_size))
    vectorised = cfg.vectorise == "vmap" or (cfg.vectorise == "auto" and device.type == "cuda")
    history: list[dict] = []
    best = {"epoch": -1, "val": None, "state": None}
    start_epoch = 0
    run_dir = Path(run_dir) if run_dir is not None else None
    state = None  # the training state a resume continues, rank 0's, shared with every process
    if run_dir is not None:
        if lead:
            run_dir.mkdir(parents=True, exist_ok=True)
            if resume and (run_dir / "last.pt").is_file():
                state = torch.load(run_dir / "last.pt", map_location="cpu", weights_only=True)
        state = _from_rank0(state, world_size)
    runs: list[dict] = []
    if state is None:  # a fresh start (or nothing to resume from)
        if cfg.init_from:
            init_weights(model, cfg.init_from)
        if run_dir is not None and lead:  # no stale log lines
            (run_dir / "metrics.jsonl").unlink(missing_ok=True)
    else:  # last.pt replaces everything, init_from's weights too
        problem = resume_problem(state, world_size)
        if problem:
            raise ValueError(problem)
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        generators = state.get("generators") or [state["generator"]]  # files from before data parallel: one
        generator.set_state(generators[rank].cpu())
        history, best, start_epoch = state["history"], state["best"], state["epoch"]
        # a run saved before this was recorded: whatever started it is unknown (None), not left out
        runs = list(state.get("software_runs") or [{"from_epoch": 1, "torch": None, "hypermaml": None, "commit": None}])
        if lead:  # a kill between the log line and last.pt could leave an extra line: the log follows last.pt
            (run_dir / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in history))

    ema = _weight_average(model, cfg.ema_decay, state)  # None without; validated and kept instead of the model
    scored = model if ema is None else ema.module
    # every process that trains this run, and the first epoch it trained: a resumed run may have been continued
    # by another version or another commit than the one that started it
    if start_epoch < cfg.epochs:  # (a finished run, resumed, trains nothing)
        runs = runs + [{"from_epoch": start_epoch + 1, **software()}]
    total_steps = cfg.epochs * steps_per_epoch
    running_stats = getattr(model.config.backbone, "batch_norm", None) == "running" and hasattr(
        model.backbone, "update_running_stats"
    )
    step_fn = _MetaBatch(model, vectorised)
    if world_size > 1:
        step_fn = _data_parallel(step_fn, model, device, running_stats)
    autocast = torch.autocast("cuda", dtype=torch.bfloat16) if cfg.precision == "bfloat16" else contextlib.nullcontext()
    validate = _from_rank0(val_sampler is not None and cfg.val_episodes > 0, world_size)  # rank 0's sampler decides
    call_started = time.perf_counter()
    for epoch in range(start_epoch, cfg.epochs):
        if max_seconds is not None and epoch > start_epoch:
            elapsed = time.perf_counter() - call_started
            stop = _from_rank0(elapsed * (epoch - start_epoch + 1) / (epoch - start_epoch) > max_seconds, world_size)
            if stop:
                if print_epochs:
                    tqdm.write(f"stopping after epoch {epoch}: the time limit of {max_seconds:.0f} s would be passed")
                break
        model.train()
        started = time.perf_counter()
        loss_sum = acc_sum = 0.0
        # the bar counts optimiser steps; the label says how many episodes each one is (all processes together)
        desc = f"epoch {epoch + 1}/{cfg.epochs}, steps of {cfg.meta_batch * world_size} episodes"
        bar = progress_bar(range(steps_per_epoch), steps_per_epoch, desc, progress and lead)
        for step in bar:
            if cfg.lr_schedule == "cosine":
                for group in optimizer.param_groups:
                    group["lr"] = cosine_lr(cfg.lr, epoch * steps_per_epoch + step, total_steps)
            optimizer.zero_grad(set_to_none=True)
            episodes = [
                augment_episode(sampler.sample(generator).to(device), cfg.augment, generator) for _ in range(cfg.meta_batch)
            ]
            with autocast:
                loss, logits = step_fn(episodes, epoch)
            loss.backward()
            optimizer.step()
            if running_stats:  # the one explicit place running BatchNorm statistics change
                for ep in episodes:
                    model.backbone.update_running_stats(ep.support_x)
                    model.backbone.update_running_stats(ep.query_x)
            if ema is not None:
                ema.update_parameters(model)
            correct = sum(int((lg.argmax(-1) == ep.query_y).sum()) for lg, ep in zip(logits, episodes))
            count = sum(len(ep.query_y) for ep in episodes)
            loss_sum += loss.item()
            acc_sum += correct / count
            bar.set_postfix(loss=f"{loss_sum / (step + 1):.3f}", acc=f"{acc_sum / (step + 1):.3f}")
            if on_step is not None:
                on_step(epoch * steps_per_epoch + step + 1, total_steps, loss.item(), correct / count)
        loss_sum, acc_sum = _mean_over_ranks([loss_sum, acc_sum], world_size)
        record = {
            "epoch": epoch + 1,
            "loss": loss_sum / steps_per_epoch,
            "accuracy": acc_sum / steps_per_epoch,
            "seconds": time.perf_counter() - started,
            "threads": torch.get_num_threads(),  # per process: what an epoch's seconds were bought with
        }
        if validate:
            val = evaluate(scored, val_sampler, cfg.val_episodes, seed=cfg.seed + 1) if lead else None
            record = _from_rank0({**record, "val_mean": val.mean, "val_ci95": val.ci95} if lead else None, world_size)
            if best["val"] is None or record["val_mean"] > best["val"]:
                best = {"epoch": epoch + 1, "val": record["val_mean"], "state": _cpu_state(scored)}
                if run_dir is not None and lead:
                    metrics = train_metrics(
                        cfg, history + [record], best["epoch"], best["val"], record["val_ci95"], world_size, runs
                    )
                    save(scored, run_dir / "best.pt", metrics=metrics)
        else:
            record = _from_rank0(record, world_size)
            if run_dir is not None and lead:  # no validation: best.pt is the latest epoch, loadable like any other
                metrics = train_metrics(cfg, history + [record], epoch + 1, None, None, world_size, runs)
                save(scored, run_dir / "best.pt", metrics=metrics)
        history.append(record)
        if print_epochs:
            tqdm.write(" ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in record.items()))
        generators = _gather(generator.get_state(), world_size)
        if run_dir is not None and lead:
            with open(run_dir / "metrics.jsonl", "a") as f:
                f.write(json.dumps(record) + "\n")
            atomic_torch_save(
                {
                    "model": _cpu_state(model),
                    "optimizer": optimizer.state_dict(),
                    "generators": generators,
                    "world_size": world_size,
                    "history": history,
                    "best": best,
                    "epoch": epoch + 1,
                    "config": to_dict(model.config),
                    "train_config": to_dict(cfg),
                    "software_runs": runs,
                    **({} if ema is None else {"ema": _cpu_state(ema.module), "ema_steps": int(ema.n_averaged)}),
                },
                run_dir / "last.pt",
            )
    if best["state"] is not None:
        model.load_state_dict(best["state"])
    elif ema is not None:  # no validation: the average at the last epoch, as best.pt holds it
        model.load_state_dict(ema.module.state_dict())
    model.eval()
    best_record = next((r for r in history if r["epoch"] == best["epoch"]), {})
    model.metrics = train_metrics(cfg, history, best["epoch"], best["val"], best_record.get("val_ci95"), world_size, runs)
    return TrainResult(history=history, best_epoch=best["epoch"], best_val=best["val"])


def cosine_lr(lr: float, step: int, total_steps: int) -> float:
    """The learning rate of optimiser step ``step`` (0-based) of ``total_steps`` under ``lr_schedule = "cosine"``:
    ``lr`` at the first step, falling along a half cosine towards 0 after the last."""
    return 0.5 * lr * (1.0 + math.cos(math.pi * min(step, total_steps) / max(1, total_steps)))


def distributed_context() -> tuple[int, int]:
    """(rank, world_size) of this process: (0, 1) unless ``torch.distributed`` is initialised."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def episode_generator(seed: int, rank: int = 0) -> torch.Generator:
    """The random stream process ``rank`` draws its training episodes (and augmentations) from.

    Rank 0's is ``manual_seed(seed)``, what a single process always drew, so single-process runs keep their
    episodes; every other rank's seed is mixed from (seed, rank) by numpy's ``SeedSequence``, so streams never
    overlap by a shift as ``seed + rank`` would with the next run's seed.
    """
    if rank == 0:
        return torch.Generator().manual_seed(seed)
    mixed = int(np.random.SeedSequence([seed, rank]).generate_state(1, np.uint64)[0])
    return torch.Generator().manual_seed(mixed)


def resume_problem(state: dict, world_size: int) -> str | None:
    """Why ``last.pt``'s training state cannot continue with ``world_size`` processes (None: it can)."""
    saved = state.get("world_size", 1)
    if saved != world_size:
        return (
            f"this run was trained by {saved} process(es) and is resumed by {world_size}: resume it with "
            f"{saved} (torchrun --nproc_per_node={saved}), since each process's episode stream continues where it stopped"
        )
    return None


class _MetaBatch(nn.Module):
    """One optimiser step's forward: the mean meta-loss of a meta-batch (what ``DistributedDataParallel`` wraps)."""

    def __init__(self, model: FewShotModel, vectorised: bool) -> None:
        super().__init__()
        self.model = model
        self.vectorised = vectorised

    def forward(self, episodes: list, epoch: int):
        return meta_batch_loss(self.model, episodes, epoch, vectorised=self.vectorised)


def _data_parallel(step_fn: _MetaBatch, model: FewShotModel, device: torch.device, running_stats: bool) -> nn.Module:
    from torch.nn.parallel import DistributedDataParallel

    hcfg = getattr(model.config, "hypermaml", None)
    # HyperMAML's pure-MAML warm-up leaves the hypernetwork out of the loss: DDP must then look for unused
    # parameters (a graph walk per step), which the other models do not need.
    unused = model.config.method == "hypermaml" and hcfg is not None and hcfg.warmup_epochs + hcfg.blend_epochs > 0
    return DistributedDataParallel(
        step_fn,
        device_ids=[device.index] if device.type == "cuda" else None,
        find_unused_parameters=unused,
        gradient_as_bucket_view=True,  # gradients live in the communication buckets: one copy less per step
        forward_sync_buffers=running_stats,  # only running statistics change; then every process takes rank 0's
    )


def _from_rank0(obj, world_size: int):
    """Rank 0's ``obj`` on every rank (itself with one process)."""
    if world_size == 1:
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def _gather(obj, world_size: int) -> list:
    """Every rank's ``obj``, in rank order, on every rank."""
    if world_size == 1:
        return [obj]
    out = [None] * world_size
    dist.all_gather_object(out, obj)
    return out


def _mean_over_ranks(values: list[float], world_size: int) -> list[float]:
    if world_size == 1:
        return values
    t = torch.tensor(values, dtype=torch.float64)
    dist.all_reduce(t)
    return (t / world_size).tolist()


def trained_from_scratch(metrics: dict) -> bool:
    """Whether a checkpoint's metrics say it was trained from random weights: a stored run config (``run_config``,
    as the bundled checkpoints carry) whose training has no ``init_from``. False where no run config is stored
    (nothing says so)."""
    train = (metrics.get("run_config") or {}).get("train")
    return train is not None and not train.get("init_from")


def train_metrics(
    cfg: TrainConfig,
    history: list[dict],
    best_epoch: int,
    val_mean: float | None,
    val_ci95: float | None,
    world_size: int,
    software_runs: list[dict],
) -> dict:
    """The one metrics record of a training run, as ``meta_train`` leaves it in ``model.metrics`` and in
    ``best.pt``: the chosen epoch (-1 without validation: the last weights are kept), its validation score,
    the epochs that ran, the schedule and the number of processes that trained (``world_size``; the effective
    meta-batch is ``world_size * meta_batch``), and what trained it: ``software`` (this process's versions and
    commit) and ``software_runs`` (every process that trained the run, each with the first epoch it trained:
    more than one where it was resumed). Benchmarks and the toy add their test numbers to it."""
    return {
        "best_epoch": best_epoch,
        "val_mean": val_mean,
        "val_ci95": val_ci95,
        "epochs_run": len(history),
        "train_history": history,
        "train_config": to_dict(cfg),
        "world_size": world_size,
        "software": software(),
        "software_runs": software_runs,
    }


@functools.cache
def software() -> dict:
    """What trained a run, for whoever retrains it: the torch and hypermaml versions, and the git commit of the
    code when it runs from a clone (``+changes`` when tracked files differ from it; ``None`` from a wheel, or
    where git is missing or refuses). Read once per process, when its first training starts; a resumed run
    also keeps what started it (``software_runs``)."""
    from . import __version__

    commit = None
    clone = Path(__file__).resolve().parents[1]
    if (clone / ".git").exists():
        try:
            # --no-optional-locks: reading the status never takes the index lock from the user's own git commands
            git = ["git", "--no-optional-locks", "-C", str(clone)]
            head = subprocess.run([*git, "rev-parse", "HEAD"], capture_output=True, text=True, timeout=10, check=True)
            changed = subprocess.run(
                [*git, "status", "--porcelain", "--untracked-files=no"], capture_output=True, text=True, timeout=10, check=True
            )
            commit = head.stdout.strip() + ("+changes" if changed.stdout.strip() else "")
        except (OSError, subprocess.SubprocessError):
            pass
    # str(): a TorchVersion is a class of its own, which a weights_only load refuses
    return {"torch": str(torch.__version__), "hypermaml": __version__, "commit": commit}


def init_weights(model: FewShotModel, path: str | Path) -> None:
    """Start from the weights of checkpoint ``path`` (``TrainConfig.init_from``). Tensors the model has and
    the file lacks (a new normalisation's parameters or buffers) keep their initial values; anything else
    that does not fit is an error naming the keys."""
    from .checkpoint import read_checkpoint

    state = read_checkpoint(path)["state_dict"]  # a path or a bundled name; CheckpointError if it is not one
    own = model.state_dict()
    reshaped = [k for k, v in state.items() if k in own and own[k].shape != v.shape]
    if reshaped:  # (load_state_dict would say so in a many-line RuntimeError)
        raise ValueError(f"init_from {path}: the checkpoint's weights have other shapes than this model's: {reshaped[:4]}")
    result = model.load_state_dict(state, strict=False)
    if result.unexpected_keys:
        raise ValueError(f"init_from {path}: the checkpoint has weights this model lacks: {result.unexpected_keys}")


def _weight_average(model: FewShotModel, decay: float, state: dict | None):
    """The exponential moving average of ``model``'s weights (``TrainConfig.ema_decay``; None at 0), torch's own
    (``AveragedModel``, parameters and buffers), continued from a resumed run's ``last.pt``."""
    if decay <= 0:
        return None
    from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

    ema = AveragedModel(model, multi_avg_fn=get_ema_multi_avg_fn(decay), use_buffers=True)
    if state is not None and "ema" in state:  # (a run resumed with the average it had; else it starts now)
        ema.module.load_state_dict(state["ema"])
        ema.n_averaged.fill_(state["ema_steps"])
    return ema


def _cpu_state(model: FewShotModel) -> dict[str, torch.Tensor]:
    return {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}


def leave_process_group() -> NoReturn:
    """End a ``torchrun`` process whose work is done, with exit status 0: every rank meets at a barrier (no rank
    tears down while a peer still communicates), the group is destroyed, output is flushed, and the process exits
    at once. Skipping the interpreter's own teardown matters: gloo's threads, freed there beside a peer that has
    already closed its sockets, can abort a finished process ("terminate called without an active exception")
    and turn a complete run into a failed launch. A process that already left its group (it trained apart) only
    flushes and exits. Open files must be closed before (this module's are)."""
    import os
    import sys

    if dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)
