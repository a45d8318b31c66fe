"""Command line for meta-training: ``python -m hypermaml.train --config FILE --run-dir DIR``.

The training loop itself is ``hypermaml.training.meta_train`` (``hm.meta_train``).
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import torch

from .checkpoint import save
from .config import TrainConfig, to_dict
from .training import meta_train

def load_run_config(path: str | Path, overrides: list[str] = ()) -> dict:
    """A run config file (JSON, or TOML by extension) with ``section.field=value`` overrides applied.

    The file holds ``model`` (ModelConfig fields), ``train`` (TrainConfig fields) and ``data`` (dataset
    names: ``train``, ``val``, ``test``). Override values are parsed as JSON when they can be
    (numbers, true/false, lists), else taken as strings.
    """
    import tomllib

    path = Path(path)
    text = path.read_text()
    raw = tomllib.loads(text) if path.suffix == ".toml" else json.loads(text)
    for item in overrides:
        if "=" not in item:
            raise ValueError(f"--set needs section.field=value, got {item!r}")
        key, value = item.split("=", 1)
        try:
            parsed = json.loads(value)
        except json.JSONDecodeError:
            parsed = value
        node = raw
        *parents, leaf = key.split(".")
        for p in parents:
            node = node.setdefault(p, {})
        node[leaf] = parsed
    return raw


def main(argv: list[str] | None = None) -> None:
    import argparse
    import dataclasses

    from .checkpoint import build_model
    from .config import ModelConfig, from_dict
    from .data import load_split
    from .episodes import EpisodeSampler

    parser = argparse.ArgumentParser(
        prog="python -m hypermaml.train",
        description="Meta-train one model from a run config; keeps the best validation checkpoint.",
    )
    parser.add_argument("--config", required=True, help="run config (JSON or TOML), e.g. hypermaml/configs/omniglot_emnist_hypermaml_1shot.json")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="SECTION.FIELD=VALUE",
                        help="override one field, e.g. --set train.epochs=5 (repeatable)")
    parser.add_argument("--run-dir", required=True, help="folder for last.pt, best.pt and metrics.jsonl")
    parser.add_argument("--resume", action="store_true", help="continue from RUN_DIR/last.pt")
    parser.add_argument("--device", choices=["cpu", "cuda"], default=None, help="overrides train.device")
    parser.add_argument("--seed", type=int, default=None, help="overrides train.seed")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    parser.add_argument("--out", default=None, help="also copy the best checkpoint here (with test metrics)")
    parser.add_argument("--max-minutes", type=float, default=None,
                        help="stop between epochs before this much wall time is passed (the log says how many epochs ran)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar (for logs)")
    args = parser.parse_args(argv)

    raw = load_run_config(args.config, args.overrides)
    model_cfg = from_dict(ModelConfig, raw["model"])
    train_cfg = from_dict(TrainConfig, raw.get("train", {}))
    if args.device is not None:
        train_cfg = dataclasses.replace(train_cfg, device=args.device)
    if args.seed is not None:
        train_cfg = dataclasses.replace(train_cfg, seed=args.seed)
    if args.threads:
        torch.set_num_threads(args.threads)
    data = raw.get("data", {})
    train_set = load_split(data["train"])
    sampler = EpisodeSampler(train_set.x, train_set.y, model_cfg.n_way, model_cfg.n_shot, train_cfg.n_query, train_set.class_names)
    val_sampler = None
    if data.get("val"):
        val_set = load_split(data["val"])
        val_sampler = EpisodeSampler(val_set.x, val_set.y, model_cfg.n_way, model_cfg.n_shot, 15, val_set.class_names)
    torch.manual_seed(train_cfg.seed)
    model = build_model(model_cfg)
    run_dir = Path(args.run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "run_config.json").write_text(json.dumps({**raw, "model": to_dict(model_cfg), "train": to_dict(train_cfg)}, indent=2))
    started = time.time()
    result = meta_train(model, sampler, train_cfg, val_sampler=val_sampler, run_dir=run_dir, resume=args.resume,
                        progress=not args.no_progress, print_epochs=True,
                        max_seconds=None if args.max_minutes is None else 60 * args.max_minutes)
    print(f"best validation accuracy {result.best_val} at epoch {result.best_epoch}; {time.time() - started:.0f} s")
    if args.out:
        metrics = {"best_epoch": result.best_epoch, "val_mean": result.best_val, "config_file": str(args.config),
                   "overrides": args.overrides, "train_history": result.history}
        save(model, args.out, metrics=metrics)
        print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
