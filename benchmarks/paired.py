"""HyperMAML against ProtoNet and MAML on the very same test episodes: paired differences of the shipped checkpoints.

    .venv/bin/python -m benchmarks.paired            # Omniglot -> EMNIST, 1 and 5 shots
    .venv/bin/python -m benchmarks.paired --readme   # also the docs' paired block

Every shipped checkpoint stores its per-episode test accuracies (each query alone; 600 episodes of seed 0, the
same episodes for every method of a shot count, since episodes are drawn from the seed alone). The difference
of two methods is taken episode by episode: its mean with a 95% interval (1.96 standard errors of the paired
differences, narrower than comparing two separate intervals because the hard episodes are hard for both), and
how often each method wins. Also shown: each row's validation accuracy and how many candidate runs
(normalisations and seeds) validation chose it from, since the best of more noisy candidates is the more
optimistic. Nothing is recomputed; the tests check the stored accuracies against fresh evaluation.
Last line: one JSON object.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

import hypermaml as hm

ROOT = Path(__file__).resolve().parents[1]
START, END = "<!-- paired:start -->", "<!-- paired:end -->"


def row(benchmark: str, method: str, shots: int) -> dict:
    metrics = hm.load(ROOT / "pretrained" / f"{benchmark}_{method}_{shots}shot.pt").metrics
    candidates = metrics.get("chosen_by_validation_from") or {}
    return {
        "accuracies": np.asarray(metrics["test_accuracies_alone"], dtype=np.float64),
        "val": metrics["val_mean"],
        "candidates": len(candidates) or 1,
        "candidate_vals": sorted(candidates.values()),
    }


def paired(a: np.ndarray, b: np.ndarray) -> dict:
    d = a - b
    return {
        "mean_diff": float(d.mean()),
        "ci95": float(1.96 * d.std(ddof=1) / np.sqrt(len(d))),
        "a_wins": float((d > 0).mean()),
        "ties": float((d == 0).mean()),
        "b_wins": float((d < 0).mean()),
        "episodes": len(d),
    }


def compare(benchmark: str = "omniglot_emnist") -> tuple[list[dict], str]:
    """HyperMAML against ProtoNet and MAML at 1 and 5 shots: the report's rows and the Markdown table."""
    report = []
    lines = [
        "| shots | HyperMAML − other, same 600 episodes (points) | HyperMAML wins / ties / loses | "
        "validation, each run's own episodes: HyperMAML / other (%) | candidates validation chose from: HyperMAML / other |",
        "|---|---|---|---|---|",
    ]
    for shots in (1, 5):
        hyper = row(benchmark, "hypermaml", shots)
        for other in ("protonet", "maml"):
            theirs = row(benchmark, other, shots)
            result = {"shots": shots, "other": other, **paired(hyper["accuracies"], theirs["accuracies"])}
            result.update(val_hypermaml=hyper["val"], val_other=theirs["val"])
            result.update(candidates_hypermaml=hyper["candidates"], candidates_other=theirs["candidates"])
            report.append(result)
            lines.append(
                f"| {shots} | vs {'ProtoNet' if other == 'protonet' else 'MAML'}: "
                f"{100 * result['mean_diff']:+.2f} ± {100 * result['ci95']:.2f} | "
                f"{100 * result['a_wins']:.0f}% / {100 * result['ties']:.0f}% / {100 * result['b_wins']:.0f}% | "
                f"{100 * hyper['val']:.2f} / {100 * theirs['val']:.2f} | {hyper['candidates']} / {theirs['candidates']} |"
            )
    return report, "\n".join(lines)


def block(table: str) -> str:
    """The docs' paired block around ``table``."""
    return "\n".join([START, "", "Made by `.venv/bin/python -m benchmarks.paired --readme`:", "", table, "", END])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--benchmark", default="omniglot_emnist")
    parser.add_argument("--readme", action="store_true", help="write the table into the docs' paired block")
    args = parser.parse_args()
    report, table = compare(args.benchmark)
    print(table)
    if args.readme:
        from benchmarks.readme import replace_block

        replace_block(block(table), START, END)
    print(json.dumps(report))


if __name__ == "__main__":
    main()
