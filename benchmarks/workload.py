"""What do the speed benchmarks share? The workload (the shipped configs' Conv4 models, random episodes) and the timers.

Every speed benchmark, top level (``speed``, ``data_parallel``, ``vectorise``, ``paper_code``) and under
``micro/``, times the Omniglot -> EMNIST models built from ``hypermaml/configs/omniglot_emnist_<method>_<k>shot.json``
with fresh weights, on 5-way episodes with 15 queries per class drawn from random 28x28 images (timing depends
on neither pixel values nor trained weights). This module holds that workload and the ways of timing it, so
that the benchmarks import it and not each other.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import statistics
import time
from pathlib import Path

import torch

import hypermaml as hm
from hypermaml.config import ModelConfig, TrainConfig, load_run_config

CONFIGS = Path(__file__).resolve().parents[1] / "hypermaml" / "configs"
N_WAY, N_QUERY = 5, 15


# The layout the speed benchmarks measure (``benchmarks/speed.py --memory-format`` sets it). A Conv4 follows its
# own weights' layout, so converting the built model is all it takes: no switch inside the library.
MEMORY_FORMAT = torch.channels_last


def build_model(cfg: ModelConfig) -> hm.FewShotModel:
    return hm.build_model(cfg).to(memory_format=MEMORY_FORMAT)


def model_config(method: str, shot: int, **maml) -> ModelConfig:
    cfg = load_run_config(CONFIGS / f"omniglot_emnist_{method}_{shot}shot.json").model
    return dataclasses.replace(cfg, maml=dataclasses.replace(cfg.maml, **maml)) if maml else cfg


def fake_sampler(shot: int, seed: int = 0) -> hm.EpisodeSampler:
    """Random 28x28 images, 64 classes of 20, as the training and evaluation code would see data."""
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(64 * 20, 1, 28, 28, generator=g)
    y = torch.arange(64).repeat_interleave(20)
    return hm.EpisodeSampler(x, y, N_WAY, shot, N_QUERY)


TRAIN_METHODS = {  # key -> (method, MAML overrides)
    "hypermaml": ("hypermaml", {}),
    "protonet": ("protonet", {}),
    "maml_so": ("maml", {"first_order": False}),
    "maml_fo": ("maml", {"first_order": True}),
}


def train_cfg(shot: int, episodes: int, device: torch.device) -> TrainConfig:
    meta_batch = load_run_config(CONFIGS / f"omniglot_emnist_hypermaml_{shot}shot.json").train.meta_batch
    return TrainConfig(
        epochs=1,
        episodes_per_epoch=max(meta_batch, episodes),
        meta_batch=meta_batch,
        n_query=N_QUERY,
        val_episodes=0,
        device=str(device),
    )


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def median_ms(fn, repeats: int, warmup: int = 3) -> float:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return 1000 * statistics.median(times)


def alternate_ms(fns: dict, repeats: int, warmup: int = 3) -> dict[str, dict[str, float]]:
    """Call each of ``fns`` (name -> function of no arguments) ``warmup`` times, then all of them in turn, call
    by call, ``repeats`` times; per name the 20th percentile and the median of its times in ms (this machine's
    noise lies mostly above the 20th percentile)."""
    for fn in fns.values():
        for _ in range(warmup):
            fn()
    times: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            start = time.perf_counter()
            fn()
            times[name].append(1000 * (time.perf_counter() - start))
    return {name: percentiles_ms(values) for name, values in times.items()}


def percentiles_ms(values: list[float]) -> dict[str, float]:
    """The 20th percentile and the median of times in ms, as every alternating benchmark reports them."""
    ordered = sorted(values)
    return {"p20_ms": round(ordered[len(ordered) // 5], 3), "median_ms": round(ordered[len(ordered) // 2], 3)}


def micro_main(name: str, doc: str, measure, quick_help: str, argv: list[str] | None = None) -> None:
    """The command line of the small alternating benchmarks (``micro.first_layer``, ``micro.pooling``,
    ``micro.tasknorm``): ``--quick`` (``quick_help``), ``--threads`` (default 2) and ``--save`` (store the report as
    ``docs/<name>.json``); keeps freed memory, runs ``measure(quick)`` for its rows and prints the report as one
    JSON line."""
    from benchmarks.readme import DOCS
    from hypermaml.memory import keep_freed_memory

    parser = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help=quick_help)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--save", action="store_true", help=f"also store the report as docs/{name}.json")
    args = parser.parse_args(argv)
    kept = keep_freed_memory()
    torch.set_num_threads(args.threads)
    report = {"benchmark": name, "threads": args.threads, "keep_freed_memory": kept, "rows": measure(args.quick)}
    if args.save:
        (DOCS / f"{name}.json").write_text(json.dumps(report, indent=1) + "\n")
    print(json.dumps(report))
