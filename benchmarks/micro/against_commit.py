"""How much faster does this tree adapt, score and train than an earlier commit of the library (alternated in one process)?

    .venv/bin/python -m benchmarks.micro.against_commit --base 0a2a5e9
    .venv/bin/python -m benchmarks.micro.against_commit --base 0a2a5e9 --json docs/against_commit.json

This machine's speed drifts by up to 2x over minutes, so two versions timed in separate runs (or processes) can
differ by more than the change between them. Here both versions live in one process: the base commit's
``hypermaml`` package is checked out into a temporary folder (``git worktree``, removed afterwards) and imported
under another name (its modules import each other relatively), both build the same model from the same config
and this tree's weights, and their calls alternate one by one (who goes first alternating). Per measurement:
each side's 20th percentile and median in ms, and the median over the pairs of base time / this tree's time
(> 1: this tree is faster).

Measured, with the shipped configs, fresh weights (the same on both sides) and random 28x28 images:

- HyperMAML 1-shot and 5-shot under ``torch.no_grad()``: ``adapt`` (``model.adapt(support_x, support_y)``, one
  task) and ``adapt_score`` (adapt, then ``model.logits`` of the 75 queries);
- ``train_step``: one-episode training steps (``meta_loss``, backward, Adam; ``--train-repeats`` per side) of
  HyperMAML 1-shot, second-order MAML with one inner step 1-shot and 5-shot, and ProtoNet 5-shot.

Both sides are first checked to compute the same logits or loss. The last line is one JSON object.
"""

from __future__ import annotations

import argparse
import importlib
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from functools import partial
from pathlib import Path

import torch

from benchmarks.workload import percentiles_ms

ROOT = Path(__file__).resolve().parents[2]


def import_base(rev: str, folder: Path):
    """The ``hypermaml`` package of commit ``rev`` as the module ``hypermaml_base``."""
    tree = folder / "tree"
    subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", str(tree), rev], check=True, capture_output=True)
    try:
        shutil.copytree(tree / "hypermaml", folder / "pkgs" / "hypermaml_base")
    finally:
        subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(tree)], check=True, capture_output=True)
    sys.path.insert(0, str(folder / "pkgs"))
    return importlib.import_module("hypermaml_base")


def paired(fns: dict, repeats: int, warmup: int = 10) -> dict:
    """Call the two functions of ``fns`` alternately ``repeats`` times each (who goes first alternating)."""
    (a, fa), (b, fb) = fns.items()
    for _ in range(warmup):
        fa(), fb()
    times: dict[str, list[float]] = {a: [], b: []}
    for i in range(repeats):
        for name, fn in ((a, fa), (b, fb)) if i % 2 else ((b, fb), (a, fa)):
            start = time.perf_counter()
            fn()
            times[name].append(1000 * (time.perf_counter() - start))
    out: dict = {name: percentiles_ms(values) for name, values in times.items()}
    out["base_over_this"] = round(statistics.median(x / y for x, y in zip(times[a], times[b])), 3)
    return out


# one-episode training steps timed: (method, shots, MAML settings); second-order MAML with one inner step as in
# benchmarks/paper_code.py, and ProtoNet 5-shot, the methods whose normalisations changed
TRAINING = (
    ("hypermaml", 1, {}),
    ("maml", 1, {"train_steps": 1, "first_order": False}),
    ("maml", 5, {"train_steps": 1, "first_order": False}),
    ("protonet", 5, {}),
)


class _Steps:
    """One training step per call (``meta_loss``, backward, Adam), cycling over a few episodes."""

    def __init__(self, model, episodes: list) -> None:
        self.model, self.episodes, self.i = model, episodes, 0
        self.optimizer = torch.optim.Adam(model.parameters(), 1e-3)

    def __call__(self) -> None:
        loss, _ = self.model.meta_loss(self.episodes[self.i % len(self.episodes)])
        self.i += 1
        self.optimizer.zero_grad()
        loss.backward()
        self.optimizer.step()


def _call(model, episode, score: bool):
    task = model.adapt(episode.support_x, episode.support_y)
    return model.logits(episode.query_x, task) if score else task


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--base", required=True, help="the earlier commit (anything git rev-parse takes)")
    parser.add_argument("--repeats", type=int, default=400, help="adaptation calls per side (scoring: a tenth)")
    parser.add_argument("--train-repeats", type=int, default=40, help="training steps per side and method")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--json", metavar="FILE", default=None, help="also store the report in FILE")
    args = parser.parse_args(argv)
    from hypermaml.memory import keep_freed_memory

    kept = keep_freed_memory()
    torch.set_num_threads(args.threads)
    import hypermaml as hm
    from benchmarks import workload

    base_rev = subprocess.run(
        ["git", "-C", str(ROOT), "rev-parse", "--short", args.base], check=True, capture_output=True, text=True
    )
    this_rev = subprocess.run(
        ["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], check=True, capture_output=True, text=True
    )
    rows = []

    def record(row: dict) -> None:
        rows.append(row)
        print(
            f"{row['method']:9s} {row['shot']}-shot {row['use']:12s} base {row['base']['p20_ms']:8.2f} ms  this "
            f"{row['this']['p20_ms']:8.2f} ms  (20th percentiles)  base / this, median of pairs: {row['base_over_this']:.3f}",
            flush=True,
        )

    with tempfile.TemporaryDirectory() as folder:
        base = import_base(args.base, Path(folder))

        def both(method: str, shot: int, **maml):
            cfg = workload.model_config(method, shot, **maml)
            torch.manual_seed(0)
            this = hm.build_model(cfg)
            old = base.build_model(base.config.from_dict(base.ModelConfig, base.config.to_dict(cfg)))
            old.load_state_dict(this.state_dict())
            return old, this

        for shot in (1, 5):
            old, this = (m.eval() for m in both("hypermaml", shot))
            e = workload.fake_sampler(shot).sample(torch.Generator().manual_seed(1))
            for use, repeats in (("adapt", args.repeats), ("adapt_score", max(10, args.repeats // 10))):
                with torch.no_grad():
                    torch.testing.assert_close(_call(this, e, True), _call(old, e, True), rtol=1e-4, atol=1e-4)  # one function
                    score = use == "adapt_score"
                    timed = paired({"base": partial(_call, old, e, score), "this": partial(_call, this, e, score)}, repeats)
                record({"method": "hypermaml", "shot": shot, "use": use, **timed})
        for method, shot, maml in TRAINING:
            old, this = (m.train() for m in both(method, shot, **maml))
            sampler = workload.fake_sampler(shot)
            episodes = [sampler.sample(torch.Generator().manual_seed(i)) for i in range(4)]
            torch.testing.assert_close(old.meta_loss(episodes[0])[0], this.meta_loss(episodes[0])[0], rtol=1e-4, atol=1e-4)
            steps = {"base": _Steps(old, episodes), "this": _Steps(this, episodes)}
            timed = paired(steps, args.train_repeats, warmup=3)
            name = method if method != "maml" else "maml_so"
            record({"method": name, "shot": shot, "use": "train_step", **timed})
    report = {
        "benchmark": "against_commit",
        "base": base_rev.stdout.strip(),
        "this": this_rev.stdout.strip(),
        "threads": args.threads,
        "keep_freed_memory": kept,
        "rows": rows,
    }
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report))


if __name__ == "__main__":
    main()
