"""Command line for evaluation: mean accuracy ± 95% CI over episodes, printed and written as JSON.

    python -m hypermaml.evaluate --checkpoint pretrained/omniglot_emnist_hypermaml_1shot.pt \\
        --dataset emnist --split test --n-way 5 --n-shot 1 --episodes 600 --seed 0

The library function is ``hypermaml.evaluation.evaluate`` (``hm.evaluate``).
"""

from __future__ import annotations

import argparse
import json
import sys
import types
from pathlib import Path

from .checkpoint import load
from .data import DATASETS, load_split
from .episodes import EpisodeSampler
from .evaluation import evaluate


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(prog="python -m hypermaml.evaluate", description=__doc__.split("\n\n")[0])
    parser.add_argument("--checkpoint", required=True)
    parser.add_argument("--dataset", required=True, help="emnist, omniglot, digits, or a full name: " + ", ".join(DATASETS))
    parser.add_argument("--split", default="test", choices=["train", "val", "test"], help="ignored for full names and digits")
    parser.add_argument("--n-way", type=int, default=5)
    parser.add_argument("--n-shot", type=int, default=None, help="default: the shot count the model was trained with")
    parser.add_argument("--n-query", type=int, default=15, help="queries per class (the paper uses 15)")
    parser.add_argument("--episodes", type=int, default=600)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--steps", type=int, default=None, help="MAML: inner steps at test time (default: its test_steps)")
    parser.add_argument("--query-batch", type=int, default=None, metavar="N",
                        help="queries the model sees at once: 1 = each query alone (what a person with one picture "
                             "gets); default all of an episode's queries together (the paper's protocol)")
    parser.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    parser.add_argument("--json", type=Path, default=None, help="write the result here (default: beside the checkpoint)")
    args = parser.parse_args(argv)

    model = load(args.checkpoint, device=args.device)
    name = args.dataset if args.dataset in DATASETS else f"{args.dataset}-{args.split}"
    if args.dataset == "digits":
        name = "digits"
    data = load_split(name)
    n_shot = args.n_shot or model.config.n_shot
    sampler = EpisodeSampler(data.x, data.y, args.n_way, n_shot, args.n_query, data.class_names)
    adapt_kwargs = {}
    if args.steps is not None:
        if model.config.method != "maml":
            parser.error("--steps applies to MAML checkpoints only")
        adapt_kwargs["steps"] = args.steps
    if args.query_batch is not None and args.query_batch < 1:
        parser.error(f"--query-batch must be at least 1, got {args.query_batch}")
    result = evaluate(model, sampler, args.episodes, seed=args.seed, device=args.device, progress=True,
                      query_batch=args.query_batch, **adapt_kwargs)
    steps = adapt_kwargs.get("steps", model.config.maml.test_steps) if model.config.method == "maml" else None
    out = {
        "checkpoint": str(args.checkpoint), "method": model.config.method, "dataset": name, "n_way": args.n_way,
        "n_shot": n_shot, "n_query": args.n_query, "query_batch": args.query_batch, "episodes": args.episodes, "seed": args.seed, "maml_steps": steps,
        "accuracy_pct": round(100 * result.mean, 2), "ci95_pct": round(100 * result.ci95, 2), **result.to_dict(),
    }
    label = f"{model.config.method}{f' ({steps} steps)' if steps is not None else ''}"
    print(f"{label} on {name}, {args.n_way}-way {n_shot}-shot: {100 * result.mean:.2f} ± {100 * result.ci95:.2f} % ({args.episodes} episodes, seed {args.seed})")
    path = args.json or Path(args.checkpoint).with_suffix(f".eval_{name}_{n_shot}shot.json")
    path.write_text(json.dumps(out, indent=2) + "\n")
    print(f"wrote {path}")
    return out


class _CallableModule(types.ModuleType):
    """Importing this module binds ``hypermaml.evaluate`` to it, over the ``hm.evaluate`` function (Python
    sets a package attribute for every imported submodule). Making the module callable keeps
    ``hm.evaluate(model, sampler, ...)`` working either way."""

    def __call__(self, *args, **kwargs):
        return evaluate(*args, **kwargs)


sys.modules[__name__].__class__ = _CallableModule

if __name__ == "__main__":
    main()
