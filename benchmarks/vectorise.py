"""Does a meta-batch train faster as a Python loop over episodes or as one ``torch.func.vmap`` call (episodes per second)?

    .venv/bin/python -m benchmarks.vectorise                   # CPU, meta-batch 4 and 16, 3 rounds
    .venv/bin/python -m benchmarks.vectorise --device cuda --meta-batch 1 16 64 256 --save   # docs/vectorise_cuda.json
    .venv/bin/python -m benchmarks.vectorise --from-json docs/vectorise_cuda.json   # its table, from a stored run

For each method (the configs' 1-shot models, fresh weights, random 28x28 images, 5-way, 15 queries per class)
one optimiser step is ``hypermaml.vectorise.meta_batch_loss`` over the meta-batch, backward, Adam; the loop
and vmap alternate over the rounds in one process; medians of episodes/s. This is what ``train.vectorise``'s
"auto" rests on: vmap on CUDA, the loop on CPU. The last line is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import torch

import hypermaml as hm
from benchmarks.readme import save_report
from benchmarks.workload import fake_sampler, model_config, sync
from hypermaml.memory import keep_freed_memory
from hypermaml.vectorise import meta_batch_loss

COMMAND = ".venv/bin/python -m benchmarks.vectorise --save"
METHODS = {"hypermaml": ("hypermaml", {}), "protonet": ("protonet", {}), "maml_so_1step": ("maml", {"train_steps": 1})}


def episodes_per_s(model: hm.FewShotModel, meta_batch: int, device: torch.device, vectorised: bool, seconds: float) -> float:
    sampler, g = fake_sampler(1), torch.Generator().manual_seed(0)
    episodes = [sampler.sample(g).to(device) for _ in range(meta_batch)]
    optimizer = torch.optim.Adam(model.parameters())

    def step() -> None:
        optimizer.zero_grad(set_to_none=True)
        loss, _ = meta_batch_loss(model, episodes, vectorised=vectorised)
        loss.backward()
        optimizer.step()

    step()
    sync(device)
    n, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        step()
        n += 1
    sync(device)
    return n * meta_batch / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    parser.add_argument("--meta-batch", type=int, nargs="+", default=[4, 16])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=2.0, help="timed per measurement")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument(
        "--save",
        action="store_true",
        help="store docs/vectorise.json (docs/vectorise_cuda.json on a GPU) and write its table on docs/scale.md",
    )
    parser.add_argument(
        "--from-json", type=Path, default=None, help="write the table of a stored report (one a GPU machine made) and stop"
    )
    args = parser.parse_args()
    if args.from_json:
        report = json.loads(args.from_json.read_text())
        save_report(report_name(report), report, markdown(report), command(report))
        print(markdown(report))
        return
    keep_freed_memory()
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    report = {"device": str(device), "threads": args.threads, "rounds": args.rounds, "episodes_per_s": {}}
    if device.type == "cuda":
        report |= {"device_name": torch.cuda.get_device_name(device), "torch": torch.__version__, "meta_batches": args.meta_batch}
    for key, (method, maml) in METHODS.items():
        model = hm.build_model(model_config(method, 1, **maml)).to(device).train()
        for meta_batch in args.meta_batch:
            runs: dict[str, list[float]] = {"loop": [], "vmap": []}
            for _ in range(args.rounds):
                for mode in runs:
                    runs[mode].append(episodes_per_s(model, meta_batch, device, mode == "vmap", args.seconds))
            row = {mode: round(statistics.median(v), 1) for mode, v in runs.items()}
            row["vmap_over_loop"] = round(row["vmap"] / row["loop"], 2)
            report["episodes_per_s"][f"{key}, meta-batch {meta_batch}"] = row
            print(f"{key}, meta-batch {meta_batch}: {json.dumps(row)}", flush=True)
    print(markdown(report))
    if args.save:
        save_report(report_name(report), report, markdown(report), command(report))
    print(json.dumps(report))


def report_name(report: dict) -> str:
    """``vectorise`` for the CPU report, ``vectorise_cuda`` for a GPU's: each has its own JSON and table."""
    return "vectorise" if report["device"] == "cpu" else "vectorise_" + report["device"].split(":")[0]


def command(report: dict) -> str:
    if report["device"] == "cpu":
        return COMMAND
    batches = " ".join(map(str, report["meta_batches"]))
    return f".venv/bin/python -m benchmarks.vectorise --device cuda --meta-batch {batches} --save"


def markdown(report: dict) -> str:
    lines = ["| method, meta-batch | loop (episodes/s) | vmap (episodes/s) | vmap / loop |", "|---|---|---|---|"]
    for key, row in report["episodes_per_s"].items():
        lines.append(f"| {key} | {row['loop']} | {row['vmap']} | {row['vmap_over_loop']:.2f}× |")
    where = (
        f"{report['device_name']} (torch {report['torch']})"
        if "device_name" in report
        else f"{report['device']}, {report['threads']} threads"
    )
    return "\n".join(lines) + f"\n\n*{where}, medians of {report['rounds']} rounds.*"


if __name__ == "__main__":
    main()
