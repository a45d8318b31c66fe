"""What in HyperMAML's recipe matters? Variants of one row from scratch, compared on EMNIST validation only.

    .venv/bin/python -m benchmarks.sweep --runs-dir runs/sweep                 # every variant, 1 thread each
    .venv/bin/python -m benchmarks.sweep --runs-dir runs/sweep --only wide-512 --only base
    .venv/bin/python -m benchmarks.sweep --runs-dir runs/sweep --save          # also docs/sweep.json + docs table

A screening sweep, not a final result: every variant is HyperMAML 1-shot (``--config``) trained from random
weights for the same ``--epochs`` with the short recipe (``train.n_query=5``, which halves an epoch), one
change at a time against ``base``, one seed; ``--base-seeds N`` also trains ``base`` with seeds 1 … N-1
(``base-seed1`` …), whose spread is the yardstick for the differences. A run that was stopped resumes; a
finished one is only read.
Each variant's best-validation checkpoint (chosen on the usual 200 episodes, so a little flattered) is scored
again on ``--fresh-episodes`` other EMNIST-validation episodes (seed 1000), which is the number compared.
No test episode is touched: the winner is then trained with seeds and tested (``scripts/train_seeds.sh``).
Last line: one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

from benchmarks.readme import replace_block
from benchmarks.time_to_accuracy import score
from hypermaml.cli import main as cli_main

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
START, END = "<!-- sweep:start -->", "<!-- sweep:end -->"
BASE = ["train.n_query=5"]  # the 8-minute recipe of docs/reproduce.md ("Time to 79%")
VARIANTS: dict[str, list[str]] = {
    "base": [],  # hypernetwork 256 wide, 2 hidden layers, linear skip, MetaBN, no warm-up
    "narrow-128": ["model.hypermaml.hidden=128"],
    "wide-512": ["model.hypermaml.hidden=512"],
    "depth-1": ["model.hypermaml.n_hidden_layers=1"],
    "depth-3": ["model.hypermaml.n_hidden_layers=3"],
    "no-linear-skip": ["model.hypermaml.linear_skip=false"],
    "maml-warmup": ["model.hypermaml.warmup_epochs=2", "model.hypermaml.blend_epochs=2"],
    "tasknorm-i": ["model.backbone.batch_norm=tasknorm-i"],
}


def parse(name: str, seed: int) -> tuple[str, int]:
    """(variant, seed) of a run name: ``base-seed2`` is ``base`` with seed 2; other names use ``--seed``."""
    variant, _, extra = name.partition("-seed")
    return variant, int(extra) if extra else seed


def train_variant(name: str, args: argparse.Namespace) -> Path:
    run_dir = args.runs_dir / name
    history = run_dir / "metrics.jsonl"
    if history.is_file() and len(history.read_text().splitlines()) >= args.epochs:
        return run_dir  # finished
    argv = ["train", "--config", args.config, "--run-dir", str(run_dir), "--threads", str(args.threads)]
    variant, seed = parse(name, args.seed)
    argv += ["--seed", str(seed), "--no-progress", "--set", f"train.epochs={args.epochs}"]
    for override in BASE + args.set + VARIANTS[variant]:
        argv += ["--set", override]
    if (run_dir / "last.pt").is_file():
        argv.append("--resume")
    if cli_main(argv) != 0:
        raise SystemExit(f"training variant {name} failed")
    return run_dir


def fresh_validation(run_dir: Path, episodes: int) -> dict:
    """The best checkpoint's score on fresh validation episodes, kept beside it (scored once per checkpoint)."""
    kept = run_dir / f"fresh_val_{episodes}.json"
    if kept.is_file() and kept.stat().st_mtime >= (run_dir / "best.pt").stat().st_mtime:
        return json.loads(kept.read_text())
    result = score(run_dir / "best.pt", "emnist-val", episodes, seed=1000, query_batch=None)  # batch-independent
    fresh = {"mean_pct": round(100 * result.mean, 2), "ci95_pct": round(100 * result.ci95, 2), "episodes": episodes}
    kept.write_text(json.dumps(fresh))
    return fresh


def report(name: str, run_dir: Path, fresh_episodes: int, seed: int = 0) -> dict:
    history = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    best = max(history, key=lambda h: h["val_mean"])
    return {
        "variant": name,
        "seed": parse(name, seed)[1],
        "overrides": BASE + VARIANTS[parse(name, seed)[0]],  # besides --set, which the result records
        "epochs_run": len(history),
        "best_epoch": best["epoch"],
        "best_val_200_pct": round(100 * best["val_mean"], 2),
        "fresh_val": fresh_validation(run_dir, fresh_episodes),
        "seconds_per_epoch": round(sum(h["seconds"] for h in history) / len(history), 1),
    }


def table(rows: list[dict], result: dict) -> str:
    base = next((r for r in rows if r["variant"] == "base"), None)
    lines = [
        f"HyperMAML 1-shot from scratch, `{' '.join(BASE + result['set'])}`, {result['epochs']} epochs, seed "
        f"{result['seed']}, {result['threads']} thread each (`{result['command']}`; {result['machine'].split(',')[0]}).",
        "",
        "| variant | change | best epoch | validation, 200 episodes (chosen on) | validation, "
        f"{rows[0]['fresh_val']['episodes']} fresh episodes | vs base | s / epoch |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        fresh = r["fresh_val"]
        delta = f"{fresh['mean_pct'] - base['fresh_val']['mean_pct']:+.2f}" if base and r is not base else "—"
        change = ", ".join(f"`{o}`" for o in r["overrides"][len(BASE) :]) or (
            "—" if r["variant"] == "base" else f"— (seed {r['seed']})"
        )
        lines.append(
            f"| {r['variant']} | {change} | {r['best_epoch']} of {r['epochs_run']} | {r['best_val_200_pct']:.2f} "
            f"| {fresh['mean_pct']:.2f} ± {fresh['ci95_pct']:.2f} | {delta} | {r['seconds_per_epoch']:.0f} |"
        )
    seeds = [r["fresh_val"]["mean_pct"] for r in rows if parse(r["variant"], 0)[0] == "base"]
    if len(seeds) > 1:
        lines += [
            "",
            f"`base` over its {len(seeds)} seeds: {statistics.mean(seeds):.2f} ± {statistics.stdev(seeds):.2f} (mean ± std "
            "of the fresh validation): a variant's difference from `base` smaller than about twice that spread is "
            "within what another seed alone would change.",
        ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", default="omniglot_emnist_hypermaml_1shot")
    parser.add_argument("--runs-dir", type=Path, default=ROOT / "runs" / "sweep")
    parser.add_argument("--only", action="append", choices=sorted(VARIANTS), help="these variants (repeatable)")
    parser.add_argument("--epochs", type=int, default=12)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--base-seeds", type=int, default=1, help="also train base with seeds 1 … N-1")
    parser.add_argument("--fresh-episodes", type=int, default=1000)
    parser.add_argument(
        "--set", action="append", default=[], metavar="SECTION.FIELD=VALUE", help="a change for every variant (repeatable)"
    )
    parser.add_argument("--no-train", action="store_true", help="only report variants already trained")
    parser.add_argument("--save", action="store_true", help="write docs/sweep.json and the table in docs/reproduce.md")
    args = parser.parse_args(argv)

    started = time.time()
    names = (args.only or list(VARIANTS)) + [f"base-seed{s}" for s in range(1, args.base_seeds)]
    rows = []
    for name in names:
        run_dir = args.runs_dir / name if args.no_train else train_variant(name, args)
        if (run_dir / "metrics.jsonl").is_file() and (run_dir / "best.pt").is_file():
            rows.append(report(name, run_dir, args.fresh_episodes, args.seed))
            print(json.dumps(rows[-1]), flush=True)
    result = {
        "benchmark": "sweep",
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, {platform.platform()}",
        "config": args.config,
        "epochs": args.epochs,
        "threads": args.threads,
        "seed": args.seed,
        "set": args.set,
        "command": " ".join(["python -m benchmarks.sweep", *(argv if argv is not None else sys.argv[1:])]),
        "rows": rows,
        "seconds": round(time.time() - started, 1),
    }
    if args.save and rows:
        (DOCS / "sweep.json").write_text(json.dumps(result, indent=2) + "\n")
        replace_block(f"{START}\n{table(rows, result)}\n{END}", START, END)
    print(json.dumps({k: v for k, v in result.items() if k != "rows"} | {"variants": [r["variant"] for r in rows]}))


if __name__ == "__main__":
    main()
