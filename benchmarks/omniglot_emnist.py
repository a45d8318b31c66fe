"""Evaluate the committed Omniglot->EMNIST checkpoints the way the paper does and print the README table.

    python -m benchmarks.omniglot_emnist            # 600 test episodes per checkpoint, seed 0
    python -m benchmarks.omniglot_emnist --write    # also writes pretrained/<name>.json (metrics)
    python -m benchmarks.omniglot_emnist --from-runs runs --write   # first copy runs/<method>_<k>shot/best.pt

5-way, 15 queries per class, EMNIST classes with an odd index (the test half), mean ± 1.96·σ/√600.
Checkpoints that are not there yet are listed as missing. Last line: one JSON object.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

import hypermaml as hm
from hypermaml.data import load_split

PRETRAINED = Path(__file__).resolve().parents[1] / "pretrained"
PAPER = {  # the HyperMAML paper's Omniglot->EMNIST table (mean ± interval, %)
    ("hypermaml", 1): "79.07 ± 1.09", ("hypermaml", 5): "89.22 ± 0.78",
    ("maml", 1): "74.81 ± 0.25", ("maml", 5): "83.54 ± 1.79",
    ("protonet", 1): "72.04 ± 0.82", ("protonet", 5): "87.22 ± 1.01",
}
EPISODES, SEED, N_QUERY = 600, 0, 15


def checkpoint_path(method: str, shot: int) -> Path:
    return PRETRAINED / f"omniglot_emnist_{method}_{shot}shot.pt"


def measure(model: hm.FewShotModel, data, shot: int, episodes: int = EPISODES) -> hm.EvalResult:
    sampler = hm.EpisodeSampler(data.x, data.y, 5, shot, N_QUERY, data.class_names)
    return hm.evaluate(model, sampler, episodes, seed=SEED)


def import_runs(runs: Path, only: list[str] | None = None) -> None:
    """best.pt of each finished or stopped run -> pretrained/, with what the run did in its metrics."""
    for method in ("hypermaml", "maml", "protonet"):
        for shot in (1, 5):
            run = runs / f"{method}_{shot}shot"
            if (only and run.name not in only) or not (run / "best.pt").is_file():
                continue
            model = hm.load(run / "best.pt")
            history = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
            config = json.loads((run / "run_config.json").read_text())
            model.metrics = {
                **model.metrics,
                "epochs_run": len(history),
                "epochs_planned": config["train"]["epochs"],
                "episodes_seen": len(history) * config["train"]["episodes_per_epoch"],
                "train_seconds": round(sum(h["seconds"] for h in history)),
                "train_config": config["train"],
                "data": config["data"],
                "history": history,
            }
            hm.save(model, checkpoint_path(method, shot))
            print(f"imported {run}/best.pt (epoch {model.metrics.get('epoch')} of {len(history)}) -> {checkpoint_path(method, shot)}")


def stored_table() -> str:
    """The README table from the metrics JSON beside each checkpoint (no evaluation)."""
    rows = ["| method | shots | ours (%) | paper (%) | trained for | epoch kept |", "|---|---|---|---|---|---|"]
    for method in ("hypermaml", "maml", "protonet"):
        for shot in (1, 5):
            path = checkpoint_path(method, shot).with_suffix(".json")
            if not path.is_file():
                rows.append(f"| {method} | {shot} | not trained yet | {PAPER[(method, shot)]} | | |")
                continue
            m = json.loads(path.read_text())
            trained = f"{m['episodes_seen']:,} episodes, {m['train_seconds'] / 60:.0f} min"
            rows.append(f"| {method} | {shot} | {100 * m['test_accuracy']:.2f} ± {100 * m['test_ci95']:.2f} | "
                        f"{PAPER[(method, shot)]} | {trained} | {m.get('epoch')} of {m['epochs_run']} |")
    return "\n".join(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--write", action="store_true", help="write the metrics JSON beside each checkpoint")
    parser.add_argument("--stored", action="store_true", help="print the README table from the stored metrics and stop")
    parser.add_argument("--only", nargs="+", default=None, metavar="METHOD_KSHOT",
                        help="import/evaluate only these rows, e.g. maml_5shot (the others are left as they are)")
    parser.add_argument("--from-runs", type=Path, default=None,
                        help="copy RUNS/<method>_<k>shot/best.pt into pretrained/ first, with the run's training log")
    args = parser.parse_args()
    if args.stored:
        print(stored_table())
        return
    if args.from_runs is not None:
        import_runs(args.from_runs, args.only)
    test = load_split("emnist-test")
    rows, results = ["| method | shots | ours (%) | paper (%) |", "|---|---|---|---|"], {}
    for method in ("hypermaml", "maml", "protonet"):
        for shot in (1, 5):
            path = checkpoint_path(method, shot)
            if not path.is_file():
                rows.append(f"| {method} | {shot} | not trained yet | {PAPER[(method, shot)]} |")
                continue
            if args.only and f"{method}_{shot}shot" not in args.only:
                continue
            model = hm.load(path)
            started = time.perf_counter()
            result = measure(model, test, shot)
            seconds = time.perf_counter() - started
            ours = f"{100 * result.mean:.2f} ± {100 * result.ci95:.2f}"
            rows.append(f"| {method} | {shot} | {ours} | {PAPER[(method, shot)]} |")
            results[path.stem] = {"accuracy": result.mean, "ci95": result.ci95, "eval_seconds": round(seconds, 1)}
            if args.write:
                metrics = dict(model.metrics)
                metrics.update(
                    test_accuracy=result.mean, test_ci95=result.ci95,
                    test_protocol=f"emnist-test, 5-way {shot}-shot, {N_QUERY} queries/class, {EPISODES} episodes, seed {SEED}",
                )
                (path.with_suffix(".json")).write_text(json.dumps(metrics, indent=2) + "\n")
                hm.save(model, path, metrics)
    print("\n".join(rows))
    print(json.dumps(results))


if __name__ == "__main__":
    torch.set_num_threads(1)
    main()
