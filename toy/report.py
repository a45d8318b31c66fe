"""Print the README's toy results table from the committed checkpoints (re-measured, not copied).

python -m toy.report              # re-evaluates pretrained/toy_*.pt on the 1,000 evaluation tasks
python -m toy.report --stored     # formats the stored metrics JSON instead (instant)
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import hypermaml as hm

from .tasks import bayes_accuracy
from .train import EVAL_SEED, EVAL_TASKS, N_QUERY, N_SHOT, measure


def markdown_table(metrics: dict[str, dict]) -> str:
    """Rows: HyperMAML, ProtoNet, MAML after 0..10 steps; accuracy (%) and 95% interval."""
    rows = ["| model | adaptation | accuracy (%) |", "|---|---|---|"]
    for name, label in (("hypermaml", "HyperMAML"), ("protonet", "ProtoNet")):
        m = metrics[name]
        how = "1 hypernetwork update" if name == "hypermaml" else "class means"
        rows.append(f"| {label} | {how} | {100 * m['accuracy']:.2f} ± {100 * m['ci95']:.2f} |")
    maml = metrics["maml"]
    for k, acc in maml["accuracy_by_steps"].items():
        rows.append(f"| MAML | {k} step{'s' if k != '1' else ''} | {100 * acc:.2f} ± {100 * maml['ci95_by_steps'][k]:.2f} |")
    rows.append(f"| Bayes-optimal | (knows the Gaussians) | {100 * bayes_accuracy():.2f} |")
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", type=Path, default=Path("pretrained"))
    parser.add_argument("--stored", action="store_true", help="format the stored metrics without re-evaluating")
    args = parser.parse_args(argv)
    metrics = {}
    for name in ("hypermaml", "maml", "protonet"):
        if args.stored:
            metrics[name] = json.loads((args.models / f"toy_{name}.json").read_text())
        else:
            metrics[name] = measure(hm.load(args.models / f"toy_{name}.pt"))
    print(f"{EVAL_TASKS} fresh tasks, {N_SHOT} shots + {N_QUERY} queries per class, seed {EVAL_SEED}:\n")
    print(markdown_table(metrics))


if __name__ == "__main__":
    main()
