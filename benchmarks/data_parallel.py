"""How fast is data-parallel meta-training with N processes against one, in the same run (``benchmarks/speed.py`` calls it)?

    .venv/bin/python -m benchmarks.data_parallel                     # HyperMAML 1-shot, 2 processes, 3 rounds
    .venv/bin/python -m benchmarks.data_parallel --episodes 48 --rounds 2

Each measurement is a ``torchrun --standalone`` launch (``python -m torch.distributed.run``) of this module
with ``--worker``: every process trains HyperMAML 1-shot (``omniglot_emnist_hypermaml_1shot.json``, fresh
weights, random images) on one torch thread, with the config's meta-batch per process, so N processes take N
times the episodes per optimiser step (DDP averages the gradients over gloo). After a warm-up step, rank 0 times
``hm.meta_train`` over ``--episodes`` episodes in all, between two barriers. The one-process and N-process
launches alternate over the rounds, with a third launch of the same N processes training apart (no gradient
exchange: the machine's own ceiling for N busy cores); medians. Scaling efficiency = N-process episodes/s /
(N x one-process).
The last line of output is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def worker(episodes: int, hidden: int | None, independent: bool) -> None:
    import dataclasses

    import torch
    import torch.distributed as dist

    import hypermaml as hm
    from benchmarks.workload import fake_sampler, model_config, train_cfg
    from hypermaml.memory import keep_freed_memory
    from hypermaml.training import leave_process_group

    keep_freed_memory()
    torch.set_num_threads(1)
    dist.init_process_group("gloo")
    world = dist.get_world_size()
    cfg = model_config("hypermaml", 1)
    if hidden:
        cfg = dataclasses.replace(cfg, backbone=dataclasses.replace(cfg.backbone, hidden=hidden))
    torch.manual_seed(0)
    model = hm.build_model(cfg)
    sampler = fake_sampler(1)
    cpu = torch.device("cpu")
    warm = train_cfg(1, 8, cpu)
    hm.meta_train(model, sampler, dataclasses.replace(warm, episodes_per_epoch=warm.meta_batch * world), progress=False)
    timed = dataclasses.replace(train_cfg(1, episodes, cpu), episodes_per_epoch=episodes)
    steps = max(1, episodes // (timed.meta_batch * world))
    dist.barrier()
    if independent:  # the machine's ceiling: the same processes, started together, each training on its own
        rank = dist.get_rank()
        dist.destroy_process_group()
        timed = dataclasses.replace(timed, episodes_per_epoch=steps * timed.meta_batch, seed=rank)
        start = time.perf_counter()
        hm.meta_train(model, sampler, timed, progress=False)
        print(json.dumps({"rank": rank, "episodes_per_s": steps * timed.meta_batch / (time.perf_counter() - start)}))
        leave_process_group()
    start = time.perf_counter()
    hm.meta_train(model, sampler, timed, progress=False)
    dist.barrier()
    seconds = time.perf_counter() - start
    if dist.get_rank() == 0:
        print(json.dumps({"rank": 0, "episodes_per_s": steps * timed.meta_batch * world / seconds}))
    leave_process_group()


def launch(processes: int, episodes: int, hidden: int | None, independent: bool = False) -> float:
    """Episodes/s of one ``torchrun`` launch with ``processes`` processes of one thread each (``independent``:
    the processes' own speeds, summed, of trainings that never communicate)."""
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={processes}", "-m",
           "benchmarks.data_parallel", "--worker", "--episodes", str(episodes)]  # fmt: skip
    cmd += (["--hidden", str(hidden)] if hidden else []) + (["--independent"] if independent else [])
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    done = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=1800)
    if done.returncode != 0:
        raise RuntimeError(f"torchrun with {processes} process(es) failed:\n{done.stderr[-3000:]}")
    return sum(r["episodes_per_s"] for r in _rank_reports(done.stdout))


def _rank_reports(stdout: str) -> list[dict]:
    """The ranks' ``{"rank": ...}`` objects in torchrun's shared stdout. Processes printing at the same moment
    can run two objects into one line (a print writes the text and the newline apart), so the objects are read
    one after another wherever they start, not one per line."""
    decoder, reports, at = json.JSONDecoder(), [], stdout.find('{"rank"')
    while at >= 0:
        report, end = decoder.raw_decode(stdout, at)
        reports.append(report)
        at = stdout.find('{"rank"', end)
    return reports


def measure(processes: int = 2, episodes: int = 96, rounds: int = 3, hidden: int | None = None) -> dict:
    """The ``data_parallel`` block of ``benchmarks/speed.py``'s report."""
    one, many, apart = [], [], []
    for _ in range(rounds):
        one.append(launch(1, episodes, hidden))
        many.append(launch(processes, episodes, hidden))
        apart.append(launch(processes, episodes, hidden, independent=True))
    one_s, many_s, apart_s = statistics.median(one), statistics.median(many), statistics.median(apart)
    return {
        "processes": processes,
        "episodes_per_s": round(many_s, 2),
        "one_process_episodes_per_s": round(one_s, 2),
        "scaling_efficiency": round(many_s / (processes * one_s), 3),
        # The same processes training apart (no gradients exchanged): what the machine allows at all.
        "independent_processes_episodes_per_s": round(apart_s, 2),
        "independent_efficiency": round(apart_s / (processes * one_s), 3),
        "threads_per_process": 1,
        "method": "hypermaml 1-shot",
        "episodes": episodes,
        "rounds": rounds,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--episodes", type=int, default=96, help="episodes timed per launch, all processes together")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--hidden", type=int, default=None, help="a narrower Conv4 (tests); default the config's 64")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--independent", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args.episodes, args.hidden, args.independent)
        return
    print(json.dumps(measure(args.processes, args.episodes, args.rounds, args.hidden)))


if __name__ == "__main__":
    main()
