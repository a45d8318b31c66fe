"""Rows trained from scratch, one run per seed: validation, test and their spread, next to the shipped checkpoint.

    .venv/bin/python -m benchmarks.from_scratch                  # every runs/scratch/<config>/seed<S>/ found
    .venv/bin/python -m benchmarks.from_scratch --save --readme  # also docs/from_scratch.json and the README table

Reads the run folders ``scripts/train_seeds.sh CONFIG SEEDS...`` writes (``runs/scratch/<config>/seed<S>/``:
``metrics.jsonl``, ``best.pt``). For each run: the epochs it ran of the config's, its best EMNIST-validation
accuracy and the epoch of it (the checkpoint kept), and that checkpoint's EMNIST-test accuracy with each query
classified alone (600 episodes, seed 0, mean ± 95% interval), the shipped checkpoints' protocol, once the run has
finished (runs still training are not scored on test). Per config:
mean ± standard deviation over the seeds that finished their epochs, of validation and test, and the shipped
checkpoint's validation and test for comparison. Runs still training are listed as far as they got and left
out of the means. Seeds whose run folders are not on this machine (a fresh clone, or seeds trained elsewhere) keep
the reports ``docs/from_scratch.json`` stored for them (``--only-runs``: the folders alone).

A run's own best validation ranks the epochs of that run, but not runs against each other: each run draws its
200 validation episodes from its own seed, and some draws are easier than others. So seeds, and the shipped
checkpoint, are compared on one common set: 1,000 EMNIST-validation episodes drawn with seed 1000, the same for
every candidate ("common validation"; cached in ``runs/score_cache.json``). "ship?" says whether the best
finished seed on it reaches the shipped checkpoint on it: the rule by which a from-scratch checkpoint replaces
it (``scripts/ship_from_scratch.sh``, which also ships that seed).
Last line: one JSON object.
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import sys
from pathlib import Path

import hypermaml as hm
from benchmarks.time_to_accuracy import score, test_score
from hypermaml.cli_checks import listed
from hypermaml.training import trained_from_scratch

ROOT = Path(__file__).resolve().parents[1]
RUNS = ROOT / "runs" / "scratch"
CACHE = ROOT / "runs" / "score_cache.json"
STORED = ROOT / "docs" / "from_scratch.json"  # the reports last saved (--save): every seed's, wherever it ran
COMMON_EPISODES, COMMON_SEED = 1000, 1000  # far from the seeds training runs draw their own validation from (seed + 1)
COMMON_NAME = f"{COMMON_EPISODES} EMNIST-validation episodes, seed {COMMON_SEED}"  # as a selection records them
START, END = "<!-- from-scratch:start -->", "<!-- from-scratch:end -->"  # docs/reproduce.md: every seed
SUMMARY_START, SUMMARY_END = "<!-- from-scratch-summary:start -->", "<!-- from-scratch-summary:end -->"  # README


def cached(checkpoint: Path, what: str, compute):
    """``compute()``'s (JSON) value for this checkpoint file, kept in ``runs/score_cache.json`` by path, size and
    modification time, so that a table rewritten after one more seed finishes scores only that seed."""
    cache = json.loads(CACHE.read_text()) if CACHE.is_file() else {}
    stat = checkpoint.stat()
    key = f"{checkpoint.resolve()}|{stat.st_size}|{stat.st_mtime_ns}|{what}"
    if key not in cache:
        cache[key] = compute()
        CACHE.parent.mkdir(parents=True, exist_ok=True)
        CACHE.write_text(json.dumps(cache, indent=1) + "\n")
    return cache[key]


def common_val(checkpoint: Path, episodes: int = COMMON_EPISODES, seed: int = COMMON_SEED) -> float:
    """A checkpoint's accuracy on the common EMNIST-validation episodes (all queries of an episode together, which
    batch-independent models score exactly as one at a time). Cached."""
    return cached(checkpoint, f"common_val|{episodes}|{seed}", lambda: score(checkpoint, "emnist-val", episodes, seed, None).mean)


def seed_of(run_dir: Path) -> int:
    return int(run_dir.name.removeprefix("seed"))


def seed_dirs(config_dir: Path) -> list[Path]:
    """``seed<S>`` run folders (not ``seed0.bak`` and the like), in seed order."""
    return sorted((d for d in config_dir.glob("seed*") if d.is_dir() and re.fullmatch(r"seed\d+", d.name)), key=seed_of)


def recipe_changes(config: str, run_dir: Path) -> list[str]:
    """How ``run_dir``'s recipe (its ``run_config.json``) differs from the config of that name, the seed and the
    device aside: a run of another recipe (a smoke test with fewer epochs, an edited config) is no seed of the row."""
    from hypermaml.cli_checks import recipe_differences
    from hypermaml.config import ConfigError, load_run_config

    try:
        now = load_run_config(config).to_dict()
    except ConfigError:  # no config of that name (a folder named otherwise): nothing to hold the run to
        return []
    try:
        ran = json.loads((run_dir / "run_config.json").read_text())
    except (OSError, ValueError):  # not begun, or being written by a run just starting: not a seed yet either way
        return []
    changed = recipe_differences(ran if isinstance(ran, dict) else {}, now)
    return [c for c in changed if c.split(":")[0] not in ("train.seed", "train.device")]


def config_runs(config_dir: Path, episodes: int) -> tuple[list[dict], list[int]]:
    """(the reports of ``config_dir``'s runs that validated an epoch, the seeds of runs begun, their config written,
    with no validated epoch yet: training, not seeds), reading each run folder once. A run of another recipe than
    the config of the folder's name stops the report, naming the differences."""
    runs, started = [], []
    for run_dir in seed_dirs(config_dir):
        if changed := recipe_changes(config_dir.name, run_dir):
            raise SystemExit(
                f"{run_dir} was trained with another recipe than the config {config_dir.name} ({listed(changed)}): "
                "it is no seed of that row; move it out of the runs folder"
            )
        if report := run_report(run_dir, episodes):
            runs.append(report)
        elif (run_dir / "run_config.json").is_file():
            started.append(seed_of(run_dir))
    return runs, started


def run_report(run_dir: Path, episodes: int) -> dict | None:
    lines = (run_dir / "metrics.jsonl").read_text().splitlines() if (run_dir / "metrics.jsonl").is_file() else []
    history = [json.loads(line) for line in lines]
    validated = [h for h in history if h.get("val_mean") is not None]
    if not validated or not (run_dir / "best.pt").is_file():
        return None  # nothing trained yet, or a run without validation (nothing to choose it by)
    config = json.loads((run_dir / "run_config.json").read_text())
    best = max(validated, key=lambda h: h["val_mean"])
    report = {
        "seed": seed_of(run_dir),
        "epochs_run": len(history),
        "epochs": config["train"]["epochs"],
        "best_val": best["val_mean"],
        "best_epoch": best["epoch"],
        "train_minutes_to_best": sum(h["seconds"] for h in history if h["epoch"] <= best["epoch"]) / 60,
    }
    if episodes and finished(report):  # a run still training is not scored on test (nor is it a seed yet)
        best_pt = run_dir / "best.pt"
        report["test"] = cached(best_pt, f"test_alone|{episodes}", lambda: test_score(best_pt, episodes))  # seed 0
        report["common_val"] = common_val(best_pt)
    return report


def shipped(config: str) -> dict | None:
    path = ROOT / "pretrained" / f"{config}.pt"
    if not path.is_file():
        return None
    metrics = hm.load(path).metrics
    # a checkpoint trained from random weights is one of these seeds: the one its run config names
    scratch_seed = metrics["run_config"]["train"]["seed"] if trained_from_scratch(metrics) else None
    stored = scored_when_chosen(metrics, scratch_seed)
    return {
        "common_val": common_val(path) if stored is None else stored,
        "val": metrics.get("val_mean"),
        "test_mean": metrics.get("test_accuracy_alone"),
        "test_ci95": metrics.get("test_ci95_alone"),
        "scratch_seed": scratch_seed,
    }


def scored_when_chosen(metrics: dict, seed: int | None) -> float | None:
    """The common-validation score a shipped seed was chosen by (``chosen_by_common_validation``, stored at import):
    the same weights on the same episodes, so a table rewritten right after shipping does not score them again
    (1,000 episodes of second-order MAML 5-shot are a quarter of an hour on two cores). None when the checkpoint
    is not that seed or the episodes were others."""
    chosen = metrics.get("chosen_by_common_validation") or {}
    if seed is None or chosen.get("common_validation") != COMMON_NAME or chosen.get("best_seed") != seed:
        return None
    return chosen.get("scores", {}).get(str(seed))


def mean_std(values: list[float]) -> str:
    if len(values) == 1:
        return f"{100 * values[0]:.2f} (1 seed)"
    return f"{100 * statistics.mean(values):.2f} ± {100 * statistics.stdev(values):.2f} ({len(values)} seeds)"


def finished(run: dict) -> bool:
    """Did this run go through all its config's epochs? (A run still training is not a seed yet.)"""
    return run["epochs_run"] >= run["epochs"]


def reaches_shipped(best: float, ship: float | None) -> bool:
    """The shipping rule: the best finished seed on the common validation episodes reaches the shipped checkpoint
    on them (or nothing is shipped)."""
    return ship is None or best >= ship


def best_seed(scores: dict[int, float]) -> int | None:
    """The seed with the highest common validation (None without any)."""
    return max(scores, key=scores.get) if scores else None


def ship_check(config: str, runs: Path = RUNS, scorer=None) -> dict:
    """Which finished seed of ``config`` under ``runs`` would be shipped, and whether the rule lets it replace
    ``pretrained/<config>.pt``: every finished seed's best checkpoint and the shipped one, scored by ``scorer``
    (the common validation episodes). ``scripts/ship_from_scratch.sh`` links the seeds and ships ``best_seed``."""
    scorer = scorer or common_val
    reports = [r for r in config_runs(runs / config, 0)[0] if finished(r)]
    scores = {r["seed"]: scorer(runs / config / f"seed{r['seed']}" / "best.pt") for r in reports}
    path = ROOT / "pretrained" / f"{config}.pt"
    ship = scorer(path) if path.is_file() and scores else None
    best = best_seed(scores)
    return {
        "config": config,
        "common_validation": COMMON_NAME,
        "seeds": sorted(scores),
        "scores": {str(seed): value for seed, value in scores.items()},
        "shipped": ship,
        "best_seed": best,
        "allowed": best is not None and reaches_shipped(scores[best], ship),
    }


def finished_tests(row: dict) -> list[float]:
    """Test accuracies (fractions) of a config's seeds that ran all their epochs."""
    return [r["test"]["test_mean_pct"] / 100 for r in row["runs"] if finished(r) and "test" in r]


def over_seeds(rows: dict[str, dict]) -> list[dict]:
    """HyperMAML against each other method of the same benchmark and shot count, with seeds as the unit: the
    difference of the mean test accuracies of the finished seeds and its 95% interval by Welch's t (each seed a
    run from random weights, so this interval holds the training's spread, which the paired interval over one
    checkpoint per method does not). Only pairs with at least two finished seeds on each side."""
    from scipy import stats

    named = {}
    for config in rows:
        match = re.fullmatch(r"(?P<bench>.+)_(?P<method>hypermaml|maml|protonet)_(?P<shots>\d+)shot", config)
        if match:
            named[(match["bench"], match["method"], int(match["shots"]))] = config
    out = []
    for (bench, method, shots), config in sorted(named.items()):
        if method != "hypermaml":
            continue
        for other in ("protonet", "maml"):
            a = finished_tests(rows[config])
            b = finished_tests(rows[named[(bench, other, shots)]]) if (bench, other, shots) in named else []
            if len(a) < 2 or len(b) < 2:
                continue
            low, high = stats.ttest_ind(a, b, equal_var=False).confidence_interval(0.95)
            diff = statistics.mean(a) - statistics.mean(b)
            out.append({"benchmark": bench, "shots": shots, "other": other, "diff": diff, "low": low, "high": high,
                        "seeds": (len(a), len(b))})  # fmt: skip
    return out


def markdown(rows: dict[str, dict]) -> tuple[str, str]:
    """(every seed's table, the summary table over seeds)."""
    lines = [
        "| config | seed | epochs run | best validation, own episodes (%) | at epoch (training min) | "
        "common validation (%) | test, one at a time (%) |",
        "|---|---|---|---|---|---|---|",
    ]
    summary = [
        "",
        "| config | validation, own episodes, over finished seeds (%) | test over finished seeds (%) | still training | "
        "shipped: validation / test (%) | common validation: best finished seed / shipped (%) | ship? |",
        "|---|---|---|---|---|---|---|",
    ]
    for config, row in rows.items():
        for run in row["runs"]:
            test = f"{run['test']['test_mean_pct']:.2f} ± {run['test']['test_ci95_pct']:.2f}" if "test" in run else ""
            common = f"{100 * run['common_val']:.2f}" if "common_val" in run else ""
            lines.append(
                f"| {config} | {run['seed']} | {run['epochs_run']} of {run['epochs']} | {100 * run['best_val']:.2f} | "
                f"{run['best_epoch']} ({run['train_minutes_to_best']:.0f}) | {common} | {test} |"
            )
        training = ", ".join(
            [f"seed {r['seed']} at epoch {r['epochs_run']}" for r in row["runs"] if not finished(r)]
            + [f"seed {seed} in its first epoch" for seed in row.get("started", [])]
        )
        vals = [r["best_val"] for r in row["runs"] if finished(r)]
        tests = finished_tests(row)
        ship = row["shipped"] or {}
        shipped_text = (
            f"{100 * ship['val']:.2f} / {100 * ship['test_mean']:.2f} ± {100 * ship['test_ci95']:.2f}"
            if ship.get("val") is not None and ship.get("test_mean") is not None
            else "—"
        )
        commons = {r["seed"]: r["common_val"] for r in row["runs"] if finished(r) and "common_val" in r}
        best = best_seed(commons)
        ship_common = ship.get("common_val")
        common_text = (f"{100 * commons[best]:.2f} (seed {best}) / " if best is not None else "— / ") + (
            f"{100 * ship_common:.2f}" if ship_common is not None else "—"
        )
        if best is None:
            verdict = "—"
        elif ship.get("scratch_seed") == best:
            verdict = f"shipped: seed {best}"
        elif reaches_shipped(commons[best], ship_common):
            verdict = f"yes: seed {best}"
        else:
            verdict = "no: below the shipped"
        summary.append(
            f"| {config} | {mean_std(vals) if vals else 'none finished'} | {mean_std(tests) if tests else ''} | "
            f"{training or 'none'} | {shipped_text} | {common_text} | {verdict} |"
        )
    for d in over_seeds(rows):
        name = {"protonet": "ProtoNet", "maml": "MAML"}[d["other"]]
        summary.append(
            f"\nOver seeds, {d['shots']}-shot test one at a time: HyperMAML − {name} = {100 * d['diff']:+.2f} points, "
            f"95% interval [{100 * d['low']:+.2f}, {100 * d['high']:+.2f}] (Welch's t over {d['seeds'][0]} and "
            f"{d['seeds'][1]} finished seeds)."
        )
    return "\n".join(lines), "\n".join(summary[1:])


def report_rows(runs: Path, episodes: int) -> dict[str, dict]:
    """Every config under ``runs`` with a run begun (one still in its first epoch too, so that a row whose first
    seed has just started says so), with its runs, the seeds in their first epoch and the shipped checkpoint."""
    rows: dict[str, dict] = {}
    for config_dir in sorted(p for p in runs.iterdir() if p.is_dir()):
        reports, started = config_runs(config_dir, episodes)
        if reports or started:
            rows[config_dir.name] = {"runs": reports, "started": started, "shipped": shipped(config_dir.name)}
    return rows


def with_stored(rows: dict[str, dict], stored: dict[str, dict]) -> dict[str, dict]:
    """``rows`` (from the run folders here) completed by ``stored`` (``docs/from_scratch.json``, as last saved): the
    seeds and configs whose folders this machine lacks keep their stored reports, so a table rewritten in a fresh
    clone, or on a machine that trained one seed, still shows every seed. What is here replaces what is stored."""
    merged = {}
    for config in sorted(set(rows) | set(stored)):
        here, kept = rows.get(config), stored.get(config)
        if here is None:
            merged[config] = kept
            continue
        local = {r["seed"] for r in here["runs"]} | set(here.get("started", []))
        old = [r for r in (kept or {}).get("runs", []) if r["seed"] not in local]
        merged[config] = {**here, "runs": sorted(here["runs"] + old, key=lambda r: r["seed"])}
    return merged


def blocks(rows: dict[str, dict]) -> tuple[str, str]:
    """The reproduce page's from-scratch block (every seed and the summary) and the README's summary block."""
    seeds, summary = markdown(rows)
    made = "Made by `.venv/bin/python -m benchmarks.from_scratch --save --readme` from the run folders"
    both = seeds + "\n\n" + summary
    return (
        "\n".join([START, "", made + ":", "", both, "", END]),
        "\n".join([SUMMARY_START, "", summary, "", made + ".", "", SUMMARY_END]),
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=Path, default=RUNS, help="folder of <config>/seed<S>/ run folders")
    parser.add_argument("--test-episodes", type=int, default=600, help="0: validation only")
    parser.add_argument("--save", action="store_true", help="write docs/from_scratch.json")
    parser.add_argument(
        "--only-runs",
        action="store_true",
        help="the run folders alone: without it, seeds whose folders are not here keep their docs/from_scratch.json reports",
    )
    parser.add_argument("--readme", action="store_true", help="write the table into the pages' from-scratch block")
    parser.add_argument(
        "--ship-check",
        metavar="CONFIG",
        help="print CONFIG's finished seeds (line 1) and the best on common validation (line 2); exit 3 if the "
        "shipping rule refuses it, 1 if none finished",
    )
    parser.add_argument("--selection-out", type=Path, default=None, help="with --ship-check: write the scores here (JSON)")
    args = parser.parse_args()
    if args.ship_check:
        check = ship_check(args.ship_check, args.runs)
        if not check["seeds"]:
            raise SystemExit(f"no seed of {args.ship_check} in {args.runs} has run all its epochs")  # exit status 1
        scores = ", ".join(f"seed {seed} {100 * value:.2f}" for seed, value in check["scores"].items())
        shipped_text = "nothing shipped" if check["shipped"] is None else f"shipped {100 * check['shipped']:.2f}"
        print(f"common validation ({check['common_validation']}): {scores}; {shipped_text}", file=sys.stderr)
        if args.selection_out:
            args.selection_out.write_text(json.dumps(check, indent=2) + "\n")
        print(" ".join(map(str, check["seeds"])))
        print(check["best_seed"])
        if not check["allowed"]:
            print(
                f"not shipped: seed {check['best_seed']} is below the shipped {args.ship_check} on common validation "
                f"(FORCE=1 scripts/ship_from_scratch.sh {args.ship_check} ships it anyway)",
                file=sys.stderr,
            )
            raise SystemExit(3)
        return
    rows = report_rows(args.runs, args.test_episodes)
    if not args.only_runs and STORED.is_file():
        here = {(c, r["seed"]) for c, row in rows.items() for r in row["runs"]}
        rows = with_stored(rows, json.loads(STORED.read_text()))
        kept = sorted(f"{c} seed {r['seed']}" for c, row in rows.items() for r in row["runs"] if (c, r["seed"]) not in here)
        if kept:
            print(f"kept from {STORED.relative_to(ROOT)} (no run folder here): {', '.join(kept)}", file=sys.stderr)
    seeds, summary = markdown(rows)
    print(seeds + "\n\n" + summary)
    if args.save:
        STORED.write_text(json.dumps(rows, indent=2) + "\n")
    if args.readme:
        from benchmarks.readme import replace_block

        seeds_block, summary_block = blocks(rows)
        replace_block(seeds_block, START, END)
        replace_block(summary_block, SUMMARY_START, SUMMARY_END)
    print(json.dumps(rows))


if __name__ == "__main__":
    main()
