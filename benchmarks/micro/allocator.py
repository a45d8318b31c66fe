"""How many page faults and how much speed does keeping freed memory (hypermaml.memory) save meta-training, against glibc's defaults?

    .venv/bin/python -m benchmarks.micro.allocator                 # HyperMAML 1-shot, 64 episodes, 3 rounds
    .venv/bin/python -m benchmarks.micro.allocator --method maml_so --episodes 32

Each measurement is a fresh process (the allocator setting cannot be undone in a process), one torch thread,
the two settings alternated over the rounds; medians. Minor page faults come from ``getrusage``. Last line:
one JSON object.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys

CHILD = """
import json, resource, sys, time, torch
torch.set_num_threads(1)
keep = sys.argv[1] == "keep"
if keep:
    from hypermaml.memory import keep_freed_memory
    assert keep_freed_memory()
import hypermaml as hm
from benchmarks.workload import TRAIN_METHODS, build_model, fake_sampler, model_config, train_cfg
method, maml = TRAIN_METHODS[sys.argv[2]]
shot, episodes = int(sys.argv[3]), int(sys.argv[4])
model = build_model(model_config(method, shot, **maml))
sampler = fake_sampler(shot)
hm.meta_train(model, sampler, train_cfg(shot, 8, torch.device("cpu")), progress=False)  # warm-up
cfg = train_cfg(shot, episodes, torch.device("cpu"))
faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
start = time.perf_counter()
hm.meta_train(model, sampler, cfg, progress=False)
seconds = time.perf_counter() - start
steps = cfg.episodes_per_epoch // cfg.meta_batch
print(json.dumps({"episodes_per_s": cfg.episodes_per_epoch / seconds,
                  "page_faults_per_step": (resource.getrusage(resource.RUSAGE_SELF).ru_minflt - faults) / steps}))
"""


def measure(setting: str, method: str, shot: int, episodes: int) -> dict:
    out = subprocess.run(
        [sys.executable, "-c", CHILD, setting, method, str(shot), str(episodes)], check=True, capture_output=True, text=True
    ).stdout
    return json.loads(out.strip().splitlines()[-1])


def compare(method: str, shot: int, episodes: int, rounds: int) -> dict:
    """glibc's defaults against freed memory kept, alternated over ``rounds``; medians (also ``benchmarks/speed.py``'s
    ``allocator`` block)."""
    runs: dict[str, list[dict]] = {"default": [], "keep": []}
    for _ in range(rounds):
        for setting in runs:
            runs[setting].append(measure(setting, method, shot, episodes))
    report = {"method": method, "shot": shot, "episodes": episodes, "rounds": rounds}
    for setting, rows in runs.items():
        report[setting] = {key: round(statistics.median(r[key] for r in rows), 2) for key in rows[0]}
    report["speed_up"] = round(report["keep"]["episodes_per_s"] / report["default"]["episodes_per_s"], 3)
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--method", default="hypermaml", choices=["hypermaml", "protonet", "maml_so", "maml_fo"])
    parser.add_argument("--shot", type=int, default=1)
    parser.add_argument("--episodes", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    report = compare(args.method, args.shot, args.episodes, args.rounds)
    for setting in ("default", "keep"):
        print(
            f"{setting:8s} {report[setting]['episodes_per_s']:7.2f} episodes/s  {report[setting]['page_faults_per_step']:9.0f} page faults per step"
        )
    print(json.dumps(report))


if __name__ == "__main__":
    main()
