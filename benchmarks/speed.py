"""How fast are adaptation, meta-training and evaluation of each method, against the bare backbone's limit?

    python -m benchmarks.speed            # 1-shot and 5-shot, full 600-episode evaluations (minutes)
    python -m benchmarks.speed --quick    # 1-shot only, shorter timings (under a minute)

Workload: the Omniglot -> EMNIST models (Conv4, 28x28 grey images, 5-way, 15 queries per class) built
from ``hypermaml/configs/omniglot_emnist_<method>_<k>shot.json`` with fresh weights, on episodes drawn
by ``EpisodeSampler`` from random images (timing does not depend on pixel values or trained weights).

Measured, all in this one process run on one device:
- ``adapt_ms``: one task's adaptation (``model.adapt``), median over repeats after warm-up; MAML after 1, 5
  and 10 inner steps.
- ``train_episodes_per_s``: ``hm.meta_train`` for a fixed number of episodes (sampling, forward,
  backward, Adam; meta-batch as in the config).
- ``conv4_fwd_bwd_episodes_per_s``: the limit a head-only method can approach: a bare Conv4 forward and
  backward over each episode's images (support and query in one batch), nothing else.
- ``peak_mem_mb``: per method, how far a few meta-training steps raise the peak resident memory (CPU;
  each method in a fresh process, the peak reset after the model is built) or the peak CUDA allocation (GPU).
- ``sample_ms``: drawing one episode from the pre-decoded image tensor (the sampler's share of a step).
- ``eval_600_s``: wall time of ``hm.evaluate`` over 600 episodes (``--quick``: timed over fewer episodes
  and scaled to 600; the JSON says so).
- ``allocator``: page faults per training step and episodes/s of HyperMAML 1-shot meta-training with glibc's
  defaults and with freed memory kept (``hypermaml.memory.keep_freed_memory``), fresh processes of one thread,
  alternated (``benchmarks/micro/allocator.py``).
- ``data_parallel``: HyperMAML 1-shot meta-training as 2 ``torchrun`` processes of one thread each (DDP over
  gloo) against one such process, alternated in this run (``benchmarks/data_parallel.py``).

The last line of output is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import platform
import time
from pathlib import Path

import torch

import hypermaml as hm
from benchmarks import workload
from benchmarks.process_memory import own_memory_mb
from benchmarks.readme import replace_block
from benchmarks.workload import N_QUERY, N_WAY, TRAIN_METHODS, build_model, fake_sampler, median_ms, model_config, sync, train_cfg


def adapt_ms(shot: int, device: torch.device, repeats: int) -> dict[str, float]:
    episode = fake_sampler(shot).sample(torch.Generator().manual_seed(1)).to(device)
    out = {}
    for key, method, steps in [
        ("hypermaml", "hypermaml", None),
        ("protonet", "protonet", None),
        ("maml_1", "maml", 1),
        ("maml_5", "maml", 5),
        ("maml_10", "maml", 10),
    ]:
        model = build_model(model_config(method, shot)).to(device).eval()
        kwargs = {} if steps is None else {"steps": steps}

        def once() -> None:
            with torch.no_grad():
                model.adapt(episode.support_x, episode.support_y, **kwargs)
            sync(device)

        out[key] = round(median_ms(once, repeats), 3)
    return out


def train_episodes_per_s(key: str, shot: int, device: torch.device, episodes: int) -> float:
    method, maml = TRAIN_METHODS[key]
    model = build_model(model_config(method, shot, **maml))
    sampler = fake_sampler(shot)
    hm.meta_train(model, sampler, train_cfg(shot, 8, device), progress=False)  # warm-up
    sync(device)
    cfg = train_cfg(shot, episodes, device)
    start = time.perf_counter()
    hm.meta_train(model, sampler, cfg, progress=False)
    sync(device)
    return cfg.episodes_per_epoch / (time.perf_counter() - start)


def conv4_fwd_bwd_episodes_per_s(shot: int, device: torch.device, episodes: int, meta_batch: int | None = None) -> float:
    """The same Conv4 as the models, forward + backward over each episode's images and nothing else.

    Shaped like a training step: a meta-batch of episodes (default: the configs'), one forward each (support
    and query images in one batch), one backward of their summed outputs; no sampling, head, hypernetwork or
    optimiser.
    """
    # HyperMAML's backbone, normalisation included (MetaBN), so the ratio compares like with like
    backbone = build_model(model_config("hypermaml", shot)).backbone.to(device).train()
    meta_batch = meta_batch or train_cfg(shot, 8, device).meta_batch
    sampler, g = fake_sampler(shot), torch.Generator().manual_seed(2)
    batches = []
    for _ in range(2 * meta_batch):
        e = sampler.sample(g)
        batches.append(torch.cat([e.support_x, e.query_x]).to(device))

    def step(i: int) -> None:
        for p in backbone.parameters():
            p.grad = None
        outs = [backbone(batches[(i + j) % len(batches)]).square().mean() for j in range(meta_batch)]
        torch.stack(outs).sum().backward()

    for i in range(4):
        step(i)
    sync(device)
    steps = max(1, episodes // meta_batch)
    start = time.perf_counter()
    for i in range(steps):
        step(i * meta_batch)
    sync(device)
    return steps * meta_batch / (time.perf_counter() - start)


def _peak_child(key: str, shot: int, device: str, episodes: int, channels_last: bool, queue) -> None:
    """In a fresh process: build, reset the peak, train a few episodes, report how far the peak rose."""
    workload.MEMORY_FORMAT = torch.channels_last if channels_last else torch.contiguous_format
    dev = torch.device(device)
    method, maml = TRAIN_METHODS[key]
    model = build_model(model_config(method, shot, **maml))
    sampler = fake_sampler(shot)
    if dev.type == "cuda":
        model.to(dev)
        torch.cuda.synchronize(dev)
        torch.cuda.reset_peak_memory_stats(dev)
        base = torch.cuda.memory_allocated(dev)
    else:
        Path("/proc/self/clear_refs").write_text("5")  # Linux: reset the peak resident size (VmHWM)
        base = own_memory_mb("VmRSS")
    hm.meta_train(model, sampler, train_cfg(shot, episodes, dev), progress=False)
    if dev.type == "cuda":
        queue.put((torch.cuda.max_memory_allocated(dev) - base) / 2**20)
    else:
        queue.put(own_memory_mb("VmHWM") - base)


def peak_mem_mb(shot: int, device: torch.device, episodes: int) -> dict[str, float]:
    """Peak memory growth of meta-training, each method in its own fresh process (nothing reused)."""
    ctx = mp.get_context("spawn")
    out = {}
    for key in TRAIN_METHODS:
        queue = ctx.Queue()
        proc = ctx.Process(
            target=_peak_child, args=(key, shot, str(device), episodes, workload.MEMORY_FORMAT == torch.channels_last, queue)
        )
        proc.start()
        out[key] = round(queue.get(timeout=600), 1)
        proc.join()
    return out


def eval_600_s(shot: int, device: torch.device, episodes: int) -> dict[str, float]:
    sampler = fake_sampler(shot)
    out = {}
    for key, method, steps in [
        ("hypermaml", "hypermaml", None),
        ("protonet", "protonet", None),
        ("maml_1", "maml", 1),
        ("maml_5", "maml", 5),
        ("maml_10", "maml", 10),
    ]:
        model = build_model(model_config(method, shot)).to(device)
        kwargs = {} if steps is None else {"steps": steps}
        hm.evaluate(model, sampler, 3, seed=1, **kwargs)  # warm-up
        sync(device)
        start = time.perf_counter()
        hm.evaluate(model, sampler, episodes, seed=0, **kwargs)
        sync(device)
        out[key] = round((time.perf_counter() - start) * 600 / episodes, 2)
    return out


def measure(shot: int, device: torch.device, quick: bool) -> dict:
    train_n, eval_n = (20, 20) if quick else (200, 600)
    sampler, g = fake_sampler(shot), torch.Generator().manual_seed(5)
    result = {
        "sample_ms": round(median_ms(lambda: sampler.sample(g), 50 if quick else 500), 3),
        "adapt_ms": adapt_ms(shot, device, repeats=10 if quick else 50),
        "train_episodes_per_s": {
            k: round(train_episodes_per_s(k, shot, device, train_n // (2 if k.startswith("maml") else 1)), 1)
            for k in TRAIN_METHODS
        },
        "conv4_fwd_bwd_episodes_per_s": round(conv4_fwd_bwd_episodes_per_s(shot, device, train_n), 1),
        "peak_mem_mb": peak_mem_mb(shot, device, 8),
        "eval_600_s": eval_600_s(shot, device, eval_n),
    }
    if quick:
        result["eval_600_s_scaled_from_episodes"] = eval_n
    result["hypermaml_train_over_conv4_limit"] = round(
        result["train_episodes_per_s"]["hypermaml"] / result["conv4_fwd_bwd_episodes_per_s"], 3
    )
    result["maml_5_adapt_over_hypermaml"] = round(result["adapt_ms"]["maml_5"] / result["adapt_ms"]["hypermaml"], 1)
    return result


def markdown(report: dict) -> str:
    """The Speed page's tables from one report (the JSON this script prints)."""
    shots = [("1-shot", report)] + ([("5-shot", report["5shot"])] if "5shot" in report else [])
    lines = ["| | " + " | ".join(name for name, _ in shots) + " |", "|---|" + "---|" * len(shots)]

    def row(label: str, get) -> None:
        lines.append(f"| {label} | " + " | ".join(get(r) for _, r in shots) + " |")

    for key, label in [
        ("hypermaml", "HyperMAML"),
        ("protonet", "ProtoNet"),
        ("maml_1", "MAML, 1 step"),
        ("maml_5", "MAML, 5 steps"),
        ("maml_10", "MAML, 10 steps"),
    ]:
        row(f"adapt one task, {label} (ms)", lambda r, k=key: f"{r['adapt_ms'][k]:.1f}")
    row("draw one episode (ms)", lambda r: f"{r['sample_ms']:.2f}")
    row("MAML-5 adapt / HyperMAML adapt", lambda r: f"{r['maml_5_adapt_over_hypermaml']:.1f}×")
    for key, label in [
        ("hypermaml", "HyperMAML"),
        ("protonet", "ProtoNet"),
        ("maml_so", "MAML, second order"),
        ("maml_fo", "MAML, first order"),
    ]:
        row(f"meta-training, {label} (episodes/s)", lambda r, k=key: f"{r['train_episodes_per_s'][k]:.1f}")
    row("bare Conv4 forward + backward (episodes/s)", lambda r: f"{r['conv4_fwd_bwd_episodes_per_s']:.1f}")
    row("HyperMAML training / bare Conv4", lambda r: f"{r['hypermaml_train_over_conv4_limit']:.2f}×")
    for key, label in [
        ("hypermaml", "HyperMAML"),
        ("protonet", "ProtoNet"),
        ("maml_1", "MAML, 1 step"),
        ("maml_5", "MAML, 5 steps"),
        ("maml_10", "MAML, 10 steps"),
    ]:
        row(f"evaluate 600 episodes, {label} (s)", lambda r, k=key: f"{r['eval_600_s'][k]:.1f}")
    for key, label in [
        ("hypermaml", "HyperMAML"),
        ("protonet", "ProtoNet"),
        ("maml_so", "MAML, second order"),
        ("maml_fo", "MAML, first order"),
    ]:
        row(f"peak memory of training, {label} (MB)", lambda r, k=key: f"{r['peak_mem_mb'][k]:.0f}")
    alloc = report.get("allocator")
    if alloc:
        lines += [
            "",
            f"Freed memory kept (HyperMAML 1-shot training, one thread, fresh processes): "
            f"{alloc['default']['page_faults_per_step']:,.0f} → {alloc['keep']['page_faults_per_step']:,.0f} page faults per "
            f"step, {alloc['default']['episodes_per_s']:.2f} → {alloc['keep']['episodes_per_s']:.2f} episodes/s "
            f"({alloc['speed_up']:.2f}×).",
        ]
    dp = report.get("data_parallel")
    if dp:
        lines += [
            "",
            f"Data parallel ({dp['method']}, one thread per process, `torchrun`, DDP over gloo): "
            f"{dp['processes']} processes train {dp['episodes_per_s']:.1f} episodes/s against "
            f"{dp['one_process_episodes_per_s']:.1f} for one, a scaling efficiency of {dp['scaling_efficiency']:.3f} "
            f"({dp['processes']} processes training apart, exchanging nothing, reach {dp['independent_efficiency']:.3f}: "
            "the machine's own ceiling).",
        ]
    return "\n".join(lines)


SPEED_JSON = Path(__file__).resolve().parents[1] / "docs" / "speed.json"
START, END = "<!-- speed:start -->", "<!-- speed:end -->"


def readme_block(report: dict) -> str:
    return (
        f"{START}\n{markdown(report)}\n\n*{report['device']}, {report['cpu_count']} cores, torch "
        f"{report['torch']}, {report['threads']} thread(s), {report['memory_format']}; measured in "
        f"{report['seconds']:.0f} s by `.venv/bin/python -m benchmarks.speed --save`, which stored "
        f"`docs/speed.json` and wrote this table.*\n{END}"
    )


def write_readme(report: dict) -> None:
    replace_block(readme_block(report), START, END)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="1-shot only, fewer repeats (under a minute)")
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    parser.add_argument(
        "--memory-format",
        choices=["channels_last", "contiguous"],
        default="channels_last",
        help="Conv4's memory format (the default is what the library uses; 'contiguous' is the NCHW "
        "layout it used before, to measure the difference)",
    )
    parser.add_argument(
        "--save",
        action="store_true",
        help="also store the report in docs/speed.json and write the table on docs/speed.md from it",
    )
    parser.add_argument(
        "--table",
        metavar="JSON",
        default=None,
        help="print the tables for a saved report (docs/speed.json, or a run's output), and stop",
    )
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    args = parser.parse_args()
    if args.table:
        text = Path(args.table).read_text().strip()
        try:  # docs/speed.json (--save), or a saved output whose last line is the report
            report = json.loads(text)
        except json.JSONDecodeError:
            report = json.loads(text.splitlines()[-1])
        print(markdown(report))
        return
    if args.threads:
        torch.set_num_threads(args.threads)
    workload.MEMORY_FORMAT = torch.channels_last if args.memory_format == "channels_last" else torch.contiguous_format
    device = torch.device(args.device)
    started = time.perf_counter()
    report = {
        "device": torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor() or platform.machine(),
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "cpu_count": mp.cpu_count(),
        "workload": f"Conv4, 28x28x1, {N_WAY}-way, {N_QUERY} queries/class",
        "memory_format": args.memory_format,
    }
    for shot in (1,) if args.quick else (1, 5):
        report[f"{shot}shot"] = measure(shot, device, args.quick)
        print(f"{shot}-shot: {json.dumps(report[f'{shot}shot'])}", flush=True)
    report.update(report.pop("1shot"))  # the 1-shot numbers are the top-level keys
    if args.device == "cpu":
        from benchmarks import data_parallel
        from benchmarks.micro import allocator

        report["allocator"] = allocator.compare("hypermaml", 1, episodes=24 if args.quick else 48, rounds=1 if args.quick else 2)
        print(f"allocator: {json.dumps(report['allocator'])}", flush=True)

        report["data_parallel"] = data_parallel.measure(episodes=48 if args.quick else 96, rounds=2 if args.quick else 3)
        print(f"data parallel: {json.dumps(report['data_parallel'])}", flush=True)
    report["seconds"] = round(time.perf_counter() - started, 1)
    if args.save:
        SPEED_JSON.write_text(json.dumps(report, indent=2) + "\n")
        write_readme(report)
    print(json.dumps(report))


if __name__ == "__main__":
    main()
