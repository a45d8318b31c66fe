"""Which memory layout does each method and phase run fastest in (the measurements behind the library's choices)?

    .venv/bin/python -m benchmarks.micro.layout               # every method, 1- and 5-shot, 3 rounds
    .venv/bin/python -m benchmarks.micro.layout --quick       # 1-shot, 2 rounds

Conv4 keeps its weights channels-last (NHWC); ``hypermaml.ops.layout.memory_layout`` lets a caller run a block of
forwards in the standard layout (NCHW) instead, per call, never as a module setting. For every method this
times a meta-training step (one episode: forward, backward, Adam) and an adaptation plus scoring of the 75
queries (eval mode, no grad), each under ``channels_last``, under ``contiguous`` and under the library's own
choice (``library``: what a user gets, today channels-last except the inner loop of second-order MAML
training, which runs contiguous). The three alternate over the rounds in one process, each in every position
in turn, after a few untimed calls; medians of the mean time per call. Workload as ``benchmarks/workload.py``: the configs' models, fresh weights, random 28x28 images,
5-way, 15 queries per class. The last line is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import torch

import hypermaml as hm
from benchmarks.readme import save_report
from benchmarks.workload import fake_sampler, model_config
from hypermaml.memory import keep_freed_memory
from hypermaml.ops.layout import memory_layout

COMMAND = ".venv/bin/python -m benchmarks.micro.layout --save"

LAYOUTS = {"channels_last": torch.channels_last, "contiguous": torch.contiguous_format, "library": None}
CASES = {  # name -> (method, MAML overrides)
    "hypermaml": ("hypermaml", {}),
    "protonet": ("protonet", {}),
    "maml_so_1step": ("maml", {"train_steps": 1}),
    "maml_so_5steps": ("maml", {"train_steps": 5}),
    "maml_fo_5steps": ("maml", {"train_steps": 5, "first_order": True}),
}


def time_ms(fn, seconds: float) -> float:
    for i in range(4):  # after a layout change oneDNN builds its kernels anew: not timed
        fn(i)
    n, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        fn(n)
        n += 1
    return 1000 * (time.perf_counter() - start) / n


def measure_case(method: str, shot: int, maml: dict, rounds: int, seconds: float) -> dict:
    model = hm.build_model(model_config(method, shot, **maml))
    sampler, g = fake_sampler(shot), torch.Generator().manual_seed(0)
    episodes = [sampler.sample(g) for _ in range(8)]
    optimizer = torch.optim.Adam(model.parameters())

    def train_step(i: int) -> None:
        optimizer.zero_grad(set_to_none=True)
        loss, _ = model.meta_loss(episodes[i % 8])
        loss.backward()
        optimizer.step()

    def adapt_step(i: int) -> None:
        e = episodes[i % 8]
        with torch.no_grad():
            model.logits(e.query_x, model.adapt(e.support_x, e.support_y))

    out = {}
    for phase, fn, train in (("train_step_ms", train_step, True), ("adapt_and_score_ms", adapt_step, False)):
        model.train(train)
        times: dict[str, list[float]] = {name: [] for name in LAYOUTS}
        names = list(LAYOUTS)
        for r in range(rounds):
            for name in names[r % 3 :] + names[: r % 3]:  # each layout first, second and third in turn
                fmt = LAYOUTS[name]
                if fmt is None:
                    times[name].append(time_ms(fn, seconds))
                else:
                    with memory_layout(fmt):
                        times[name].append(time_ms(fn, seconds))
        out[phase] = {name: round(statistics.median(v), 1) for name, v in times.items()}
    return out


def markdown(report: dict) -> str:
    lines = [
        "| method, shots | phase | channels-last (ms) | contiguous (ms) | library's choice (ms) |",
        "|---|---|---|---|---|",
    ]
    for key, phases in report["cases"].items():
        for phase, label in (("train_step_ms", "training step"), ("adapt_and_score_ms", "adapt + score")):
            t = phases[phase]
            lines.append(f"| {key} | {label} | {t['channels_last']} | {t['contiguous']} | {t['library']} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="1-shot, 2 rounds, shorter timings")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--save", action="store_true", help="store docs/layout.json and write its table on docs/speed.md")
    args = parser.parse_args()
    keep_freed_memory()
    torch.set_num_threads(args.threads)
    rounds, seconds = (2, 0.8) if args.quick else (3, 1.5)
    report = {"threads": args.threads, "rounds": rounds, "cases": {}}
    for shot in (1,) if args.quick else (1, 5):
        for key, (method, maml) in CASES.items():
            report["cases"][f"{key}, {shot}-shot"] = measure_case(method, shot, maml, rounds, seconds)
            print(f"{key} {shot}-shot: {json.dumps(report['cases'][f'{key}, {shot}-shot'])}", flush=True)
    print(markdown(report))
    if args.save:
        save_report("layout", report, markdown(report), COMMAND)
    print(json.dumps(report))


if __name__ == "__main__":
    main()
