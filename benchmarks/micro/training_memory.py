"""Does a training run's memory stay flat? Resident memory and seconds per optimiser step of a shipped config.

    .venv/bin/python -m benchmarks.micro.training_memory                       # MAML 5-shot, 30 steps, 2 threads
    .venv/bin/python -m benchmarks.micro.training_memory --config omniglot_emnist_hypermaml_1shot --steps 60

Trains the config from random weights on its real training split (``HYPERMAML_DATA``) for ``--steps`` optimiser
steps (no validation) and prints one JSON object: the resident set size (MB) every ``--every`` steps, and the
mean seconds per step after five warm-up steps. A step that leaks shows as a growing resident size; second-order
MAML with TaskNorm-I did, about 150 MB a step, until its double-backward node stopped keeping its own outputs
(``tests/test_memory.py`` guards that without timing).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time

import torch

import hypermaml as hm
from benchmarks.process_memory import own_memory_mb
from hypermaml.config import load_run_config
from hypermaml.data import load_split
from hypermaml.memory import keep_freed_memory


def measure(config: str, steps: int, every: int, threads: int) -> dict:
    keep_freed_memory()
    torch.set_num_threads(threads)
    run = load_run_config(config)
    train = load_split(run.data.train)
    sampler = hm.EpisodeSampler(train.x, train.y, run.model.n_way, run.model.n_shot, run.train.n_query)
    torch.manual_seed(0)
    model = hm.build_model(run.model)
    times, rss = [], {}

    def on_step(step: int, total: int, loss: float, accuracy: float) -> None:
        times.append(time.perf_counter())
        if step % every == 0 or step == total:
            rss[step] = round(own_memory_mb())

    cfg = dataclasses.replace(run.train, episodes_per_epoch=run.train.meta_batch * steps, epochs=1, val_episodes=0)
    hm.meta_train(model, sampler, cfg, progress=False, on_step=on_step)
    warm = min(5, len(times) - 2)
    return {
        "config": config,
        "threads": threads,
        "steps": len(times),
        "seconds_per_step": round((times[-1] - times[warm]) / (len(times) - 1 - warm), 3),
        "rss_mb_by_step": rss,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", default="omniglot_emnist_maml_5shot")
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--every", type=int, default=10)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    print(json.dumps(measure(args.config, args.steps, args.every, args.threads)))


if __name__ == "__main__":
    main()
