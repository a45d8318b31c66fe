"""How long does a row take to reach the paper's accuracy from scratch on this machine?

    python -m benchmarks.time_to_accuracy                       # HyperMAML 1-shot, then MAML 1-shot, 2 threads
    python -m benchmarks.time_to_accuracy --minutes 15 --save   # also docs/time_to_accuracy.{json,png}
    python -m benchmarks.time_to_accuracy --minutes 8 --set train.n_query=5 --runs-dir runs/tta   # a recipe change
    python -m benchmarks.time_to_accuracy --device cuda --minutes 3 --baseline none --save   # docs/time_to_accuracy_cuda.*
    python -m benchmarks.time_to_accuracy --from-run runs/scratch/omniglot_emnist_hypermaml_1shot/seed0 \
        --from-run runs/scratch/omniglot_emnist_protonet_1shot/seed0 --save   # curves of runs already made

Each row trains from random weights with its shipped config (``hypermaml configs``) and records, after every
epoch, the training wall time so far (validation excluded: it is the same 200 EMNIST-validation episodes for
every method, and is listed separately) against EMNIST-validation accuracy. The first row (default HyperMAML
1-shot) runs until ``--minutes``; the others (default MAML 1-shot) run for the same budget, so the report
says where each stands at the moment the first crosses ``--target``. The best-validation checkpoint of each
row is then scored on EMNIST test, each query alone (600 episodes, seed 0). Last line: one JSON object.

Minutes are only comparable on one machine at one speed, and this shared machine type drifts by up to 2x from
day to day. So a CPU report also records the machine's speed just before and just after the rows train
(``machine_speed``: a bare Conv4 forward and backward, benchmarks/speed.py's row, in 1-shot episodes per
second on the threads the rows use), beside the same row of the stored speed table (``docs/speed.json``).
``--from-run`` reads runs made by ``hypermaml train`` (their ``metrics.jsonl`` and ``best.pt``) instead.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import torch

import hypermaml as hm
from hypermaml.cli import main as cli_main
from hypermaml.data import load_split
from hypermaml.episodes import EpisodeSampler

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"


def curve(run_dir: Path) -> list[dict]:
    """(epoch, cumulative training seconds, validation accuracy) of a run folder's ``metrics.jsonl``."""
    total, points = 0.0, []
    for line in (run_dir / "metrics.jsonl").read_text().splitlines():
        record = json.loads(line)
        total += record["seconds"]
        points.append({"epoch": record["epoch"], "train_seconds": round(total, 1), "val_mean": record.get("val_mean")})
    return points


def first_crossing(points: list[dict], target: float) -> dict | None:
    return next((p for p in points if p["val_mean"] is not None and p["val_mean"] >= target), None)


def at_time(points: list[dict], seconds: float) -> dict | None:
    """The last epoch finished by ``seconds`` of training."""
    done = [p for p in points if p["train_seconds"] <= seconds]
    return done[-1] if done else None


def score(checkpoint: Path, split: str, episodes: int, seed: int, query_batch: int | None = 1) -> hm.EvalResult:
    """A checkpoint's accuracy on ``episodes`` episodes (15 queries per class) of ``split``, each query alone by default."""
    model = hm.load(checkpoint)
    data = load_split(split)
    sampler = EpisodeSampler(data.x, data.y, model.config.n_way, model.config.n_shot, 15, data.class_names)
    return hm.evaluate(model, sampler, episodes, seed=seed, query_batch=query_batch)


def test_score(checkpoint: Path, episodes: int) -> dict:
    result = score(checkpoint, "emnist-test", episodes, seed=0)
    return {"test_mean_pct": round(100 * result.mean, 2), "test_ci95_pct": round(100 * result.ci95, 2), "episodes": episodes}


def row_dir(folder: Path, config: str, seed: int) -> Path:
    """Where a row of ``config`` trains: ``folder/<config>/seed<S>``."""
    return folder / config.replace("/", "_") / f"seed{seed}"


def row_changes(overrides=(), device: str | None = None) -> list[str]:
    """The config changes a row trains with, in the order the command applies them: epochs enough for any budget
    (``--minutes`` stops it), the row's own changes, then the device (as ``hypermaml train --device`` would)."""
    return ["train.epochs=1000", *overrides, *([f"train.device={device}"] if device else [])]


def train_row(
    config: str,
    minutes: float,
    threads: int,
    seed: int,
    folder: Path,
    overrides: list[str] = (),
    processes: int = 1,
    device: str | None = None,
) -> Path:
    """Train ``config`` from scratch for ``minutes`` into ``folder/<config>/seed<S>`` (``overrides``: ``--set``).

    ``processes`` > 1: that many data-parallel processes of ``threads`` threads each, launched as a user would
    (``torchrun --standalone``), each with the config's meta-batch, so one step averages ``processes`` times the
    episodes; pass ``--set train.meta_batch=...`` to keep the effective meta-batch."""
    run_dir = row_dir(folder, config, seed)
    argv = ["train", "--config", config, "--run-dir", str(run_dir), "--threads", str(threads), "--seed", str(seed)]
    argv += ["--max-minutes", str(minutes), "--no-progress"]
    for change in row_changes(overrides, device):
        argv += ["--set", change]
    if processes > 1:
        launch = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={processes}"]
        env = {**os.environ, "OMP_NUM_THREADS": str(threads), "PYTHONPATH": str(ROOT)}
        failed = subprocess.run([*launch, "-m", "hypermaml", *argv], env=env).returncode != 0
    else:
        failed = cli_main(argv) != 0
    if failed:
        raise SystemExit(f"training {config} failed")
    return run_dir


def preflight(args, rows: list[str], folder: Path | None) -> str | None:
    """What is wrong with the command, found before the machine-speed runs and any row's training (a typo in the
    last row's name was reported only after the first row had trained for its whole budget): every row's config
    with its changes, the data, the run folders to read or to fill. ``None`` when all holds."""
    from hypermaml.cli_checks import UsageError, need_data, need_device
    from hypermaml.config import ConfigError, load_run_config

    if args.from_run:
        for run in args.from_run:
            missing = [f for f in ("run_config.json", "metrics.jsonl") if not (run / f).is_file()]
            if missing:
                return f"--from-run {run}: no {' or '.join(missing)} there (a folder `hypermaml train --run-dir` wrote)"
        return None
    if len(set(rows)) < len(rows):
        return f"a row is given twice ({', '.join(rows)}): each trains into a folder of its name"
    if args.json is not None and not args.json.parent.is_dir():
        return f"--json {args.json}: the folder {args.json.parent} does not exist"
    for i, name in enumerate(rows):
        try:
            run = load_run_config(name, row_changes(args.set if i == 0 else (), args.device))
            need_device(run.train.device)
            need_data([run.data.train] + ([run.data.val] if run.data.val else []))
        except (ConfigError, UsageError) as exc:
            return f"row {name}: {exc}"
        run_dir = None if folder is None else row_dir(folder, name, args.seed)
        if run_dir is not None and (run_dir / "last.pt").is_file():
            return f"{run_dir} already holds a run: choose another --runs-dir (this benchmark trains every row afresh)"
    return None


def machine_speed(threads: int, episodes: int, repeats: int = 3) -> float:
    """How fast this machine is right now: bare Conv4 forward + backward in 1-shot episodes per second on
    ``threads`` threads (``benchmarks.speed``'s row), the median of ``repeats`` runs of ``episodes`` episodes."""
    from benchmarks.speed import conv4_fwd_bwd_episodes_per_s

    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        rates = sorted(conv4_fwd_bwd_episodes_per_s(1, torch.device("cpu"), episodes) for _ in range(repeats))
    finally:
        torch.set_num_threads(before)
    return round(rates[len(rates) // 2], 2)


def stored_machine_speed() -> dict | None:
    """The same row of the stored speed table, and on how many threads it was measured."""
    path = DOCS / "speed.json"
    if not path.is_file():
        return None
    stored = json.loads(path.read_text())
    return {"conv4_episodes_per_s": stored.get("conv4_fwd_bwd_episodes_per_s"), "threads": stored.get("threads")}


def row_report(name: str, run_dir: Path, target: float, episodes: int) -> dict:
    points = curve(run_dir)
    crossed = first_crossing(points, target)
    best = max((p for p in points if p["val_mean"] is not None), key=lambda p: p["val_mean"], default=None)
    config = json.loads((run_dir / "run_config.json").read_text())
    report = {
        "row": name,
        "config": config,
        "curve": points,
        "target_val": target,
        "reached_target_at": crossed,
        "best_val": best,
    }
    if episodes and (run_dir / "best.pt").is_file():
        report["test_alone"] = test_score(run_dir / "best.pt", episodes)
    return report


def draw(rows: list[dict], target: float, path: Path, title: str, zoom_minutes: float = 10.0) -> None:
    """Validation accuracy against training minutes, one line per row. When a row runs far past the others (a
    full 40-epoch run beside 8-minute ones), the left panel shows the first ``zoom_minutes`` of every row and
    the right one the whole of each."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    curves = [(row["row"], [p for p in row["curve"] if p["val_mean"] is not None]) for row in rows]
    longest = max((pts[-1]["train_seconds"] / 60 for _, pts in curves if pts), default=0.0)
    panels = [zoom_minutes, None] if longest > 1.5 * zoom_minutes else [None]
    fig, axes = plt.subplots(1, len(panels), figsize=(10 if len(panels) > 1 else 7, 4.6), dpi=120, squeeze=False)
    for ax, limit in zip(axes[0], panels):
        for name, pts in curves:
            ax.plot([p["train_seconds"] / 60 for p in pts], [100 * p["val_mean"] for p in pts], marker="o", ms=3, label=name)
        ax.axhline(100 * target, color="grey", ls="--", lw=1, label=f"target {100 * target:.0f}%")
        if limit is not None:
            ax.set_xlim(0, limit)
            ax.set_title(f"the first {limit:g} minutes", fontsize=9)
        elif len(panels) > 1:
            ax.set_title("whole runs", fontsize=9)
        ax.set_xlabel("training wall time (minutes, validation excluded)")
        ax.set_ylabel("EMNIST validation accuracy (%)")
        ax.grid(alpha=0.3)
    handles, labels = axes[0][0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=2, fontsize=8, frameon=False)
    fig.suptitle(textwrap.fill(title, 110), fontsize=9)
    fig.tight_layout(rect=(0, 0.04 + 0.032 * ((len(labels) + 1) // 2), 1, 1))
    fig.savefig(path)


def _title(result: dict) -> str:
    machine = result.get("device") or ", ".join(result["machine"].split(", ")[:2])  # the GPU, or architecture and cores
    if result.get("minutes_budget") is None:  # curves of runs made apart: how each ran is in the JSON's note
        return f"From scratch on {machine} (EMNIST validation: 200 episodes after every epoch)"
    processes = result.get("processes") or 1
    if result.get("device"):
        workers = "one GPU"
    elif processes > 1:
        workers = f"{processes} processes of {result['threads']} thread(s)"
    else:
        workers = f"{result['threads']} threads"
    return f"From scratch on {machine} ({workers}, {result['minutes_budget']:g} min per row)"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", default="omniglot_emnist_hypermaml_1shot", help="the row timed to the target")
    parser.add_argument(
        "--baseline", action="append", default=None, help="rows run for the same budget (repeatable; none: no baseline)"
    )
    parser.add_argument("--minutes", type=float, default=15.0, help="training budget per row")
    parser.add_argument("--threads", type=int, default=2, help="torch threads (per process with --processes)")
    parser.add_argument(
        "--processes", type=int, default=1, help="data-parallel processes for the first row (torchrun; e.g. 2 with --threads 1)"
    )
    parser.add_argument(
        "--device", choices=["cpu", "cuda"], help="where the rows train (default: the config's; tests score on CPU)"
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--target", type=float, default=0.79, help="EMNIST-validation accuracy to reach")
    parser.add_argument("--test-episodes", type=int, default=600, help="0: no test score")
    parser.add_argument(
        "--set", action="append", default=[], metavar="SECTION.FIELD=VALUE", help="a recipe change for the first row only"
    )
    parser.add_argument("--runs-dir", type=Path, default=None, help="keep the runs here (default: a temporary folder)")
    parser.add_argument("--from-run", action="append", type=Path, default=None, help="read this run folder instead")
    parser.add_argument("--save", action="store_true", help="write docs/time_to_accuracy.json and .png")
    parser.add_argument(
        "--json", type=Path, default=None, help="also write the report here (a row kept apart from the page's figure)"
    )
    parser.add_argument("--redraw", action="store_true", help="only redraw the PNG from the stored JSON")
    parser.add_argument("--note", default="", help="how the runs were made (with --from-run: threads, load), stored and drawn")
    parser.add_argument(
        "--calibrate-episodes", type=int, default=40, help="episodes per machine-speed measurement (CPU; 0: none)"
    )
    args = parser.parse_args()

    if args.redraw:
        stored = json.loads((DOCS / "time_to_accuracy.json").read_text())
        draw(stored["rows"], stored["rows"][0]["target_val"], DOCS / "time_to_accuracy.png", _title(stored))
        return
    scheduled = any(o.startswith("train.lr_schedule=") and o != "train.lr_schedule=constant" for o in args.set)
    if scheduled and not any(o.startswith("train.epochs=") for o in args.set):
        parser.error("a learning-rate schedule needs --set train.epochs=N: without it a row is given 1,000 epochs "
                     "(stopped by --minutes), and the schedule would stretch over all of them")  # fmt: skip
    rows = [args.config, *(b for b in (args.baseline or ["omniglot_emnist_maml_1shot"]) if b != "none")]
    problem = preflight(args, rows, args.runs_dir)
    if problem:
        parser.error(problem)
    started = time.time()
    calibrate = args.calibrate_episodes > 0 and not args.from_run and args.device != "cuda"
    cores = args.threads * args.processes
    speed_before = machine_speed(cores, args.calibrate_episodes) if calibrate else None
    if args.from_run:
        runs = [(f"{p.parent.name} ({p.name})", p) for p in args.from_run]
    else:
        folder = args.runs_dir or Path(tempfile.mkdtemp(prefix="time_to_accuracy_"))
        changes = args.set + ([f"{args.processes} processes"] if args.processes > 1 else [])
        runs = [
            (name + (f" ({', '.join(changes)})" if i == 0 and changes else ""),
             train_row(name, args.minutes, args.threads, args.seed, folder, args.set if i == 0 else (),
                       args.processes if i == 0 else 1, args.device))
            for i, name in enumerate(rows)
        ]  # fmt: skip
    speed_after = machine_speed(cores, args.calibrate_episodes) if calibrate else None
    stored_speed = stored_machine_speed() if calibrate else None
    reports = [row_report(name, run_dir, args.target, args.test_episodes) for name, run_dir in runs]
    crossed = reports[0]["reached_target_at"]
    if crossed is not None and not args.from_run:  # runs made apart share no clock
        for report in reports[1:]:
            report["at_first_rows_crossing"] = at_time(report["curve"], crossed["train_seconds"])
    result = {
        "benchmark": "time_to_accuracy",
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, {platform.platform()}",
        **({"device": f"{torch.cuda.get_device_name()} (torch {torch.__version__})"} if args.device == "cuda" else {}),
        "threads": None if args.from_run else args.threads,
        "processes": None if args.from_run else args.processes,
        "note": args.note,
        "minutes_budget": None if args.from_run else args.minutes,
        **(
            {
                "machine_speed": {
                    "conv4_episodes_per_s_before": speed_before,
                    "conv4_episodes_per_s_after": speed_after,
                    "threads": cores,
                    "stored_speed_table": stored_speed,
                }
            }
            if calibrate
            else {}
        ),  # fmt: skip
        "rows": reports,
        "seconds": round(time.time() - started, 1),
    }
    for report in reports:
        hit = report["reached_target_at"]
        best = report["best_val"] or {}
        when = f"{hit['train_seconds'] / 60:.1f} min (epoch {hit['epoch']})" if hit else "not reached"
        test = report.get("test_alone")
        print(
            f"{report['row']}: {100 * args.target:.0f}% validation {when}; best {100 * (best.get('val_mean') or 0):.2f}% "
            f"at epoch {best.get('epoch')}" + (f"; test {test['test_mean_pct']} ± {test['test_ci95_pct']}" if test else "")
        )
    if calibrate:
        stored = stored_speed or {}
        print(
            f"machine speed (bare Conv4, 1-shot episodes/s on {cores} threads): {speed_before} before the rows, "
            f"{speed_after} after; the stored speed table: {stored.get('conv4_episodes_per_s')} on {stored.get('threads')}"
        )
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    if args.save:
        name = "time_to_accuracy" + ("_cuda" if args.device == "cuda" else "")  # a GPU's runs beside the CPU's
        (DOCS / f"{name}.json").write_text(json.dumps(result, indent=2) + "\n")
        draw(reports, args.target, DOCS / f"{name}.png", _title(result))
    print(json.dumps({k: v for k, v in result.items() if k != "rows"} | {"rows": [r["row"] for r in reports]}))


if __name__ == "__main__":
    main()
