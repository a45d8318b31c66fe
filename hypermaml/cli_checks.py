"""What the ``hypermaml`` command checks before it loads data or writes a file (``hypermaml.cli`` runs them).

Every mistake here is a :class:`UsageError`: one line ``error: ...`` and exit status 2, so that a run that
cannot work fails in a second, not after the data has loaded, and leaves no file behind.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path


class UsageError(Exception):
    """A mistake in the command line or the files it names: reported as one line, exit status 2.

    ``quiet``: exit 2 without printing (the other processes of a data-parallel run: rank 0 says it once).
    """

    def __init__(self, message: str, quiet: bool = False) -> None:
        super().__init__(message)
        self.quiet = quiet


def need_data(names: list[str]) -> None:
    """The data folder, checked before anything is loaded (digits need none)."""
    from .data import data_root

    if any(name != "digits" for name in names):
        try:
            data_root()
        except FileNotFoundError as exc:
            raise UsageError(str(exc)) from None


def need_device(device: str) -> None:
    if not device.startswith("cuda"):  # only CUDA can be missing; the CPU needs no torch import to check
        return
    from .checkpoint import cuda_problem

    problem = cuda_problem(device)
    if problem:
        raise UsageError(f"{problem}; use --device cpu")


def image_model_problem(backbone, what: str) -> str | None:
    """Why a model with ``backbone`` cannot read the named datasets (1-channel 28x28 images), or None."""
    if backbone.kind != "conv4":
        return (
            f"{what} is a model of 2-D points ({backbone.kind} backbone), not of images; the named datasets are "
            "images (the toy is trained and evaluated by python -m toy.train in the source repository)"
        )
    size = getattr(backbone, "image_size", 28)
    if (backbone.in_channels, size) != (1, 28):
        return (
            f"{what} reads {backbone.in_channels}-channel {size}x{size} images; the named datasets are 1-channel "
            "28x28 (train or evaluate it in Python on your own data: hm.meta_train, hm.evaluate)"
        )
    return None


def _differences(old, new, prefix: str = "") -> list[str]:
    """``key: old -> new`` for every leaf where two nested dicts differ."""
    if isinstance(old, dict) and isinstance(new, dict):
        out = []
        for key in sorted(set(old) | set(new)):
            out += _differences(old.get(key), new.get(key), f"{prefix}{key}.")
        return out
    return [] if old == new else [f"{prefix.rstrip('.')}: {old!r} -> {new!r}"]


# What a resume may change without changing the run it continues: the device it goes on with (and so its
# precision), the loop or vmap form of a meta-batch (the same result), the checkpoint the run once started from
# (last.pt replaces it) and the test split (never used in training); and its epochs where the learning rate is
# constant (a cosine schedule spans the epochs: more of them change every remaining step). Anything else (the seed,
# the episodes, the learning rate, the data) would continue one run with another's recipe, its log mixing them.
RESUMABLE_CHANGES = {"train.device", "train.precision", "train.vectorise", "train.init_from", "data.test"}


def _known_fields(cls, stored: dict) -> dict:
    """``stored`` read through ``cls`` where it can be: a field added since reads as its default, a field removed
    since is dropped (else the raw dict, compared as it is)."""
    from dataclasses import fields

    from .config import ConfigError, from_dict, to_dict

    known = {f.name for f in fields(cls)}
    try:
        return to_dict(from_dict(cls, {k: v for k, v in stored.items() if k in known}))
    except ConfigError:
        return stored


def recipe_differences(started: dict, now: dict) -> list[str]:
    """``section.field: old -> new`` wherever a run's stored config (its ``run_config.json``, as read) differs from
    ``now`` (the sections of a run config as ``to_dict`` gives them), each stored section read through its config
    class; a section missing from either side is not compared."""
    from .config import DataConfig, ModelConfig, TrainConfig

    changed = []
    for section, cls in (("model", ModelConfig), ("train", TrainConfig), ("data", DataConfig)):
        old, new = started.get(section), now.get(section)
        if isinstance(old, dict) and isinstance(new, dict):
            changed += _differences(_known_fields(cls, old), new, f"{section}.")
    return changed


def listed(changes: list[str], most: int = 4) -> str:
    """The first few differences for a one-line message."""
    return "; ".join(changes[:most]) + ("; ..." if len(changes) > most else "")


def check_run_dir(args: argparse.Namespace, run, train_cfg, world_size: int) -> None:
    """The run folder, the checkpoint to start from, --out and the data: everything before any load or write."""
    from .config import to_dict

    run_dir = Path(args.run_dir)
    if run_dir.exists() and not run_dir.is_dir():
        raise UsageError(f"--run-dir {run_dir} is a file, not a folder")
    if args.resume and not (run_dir / "run_config.json").is_file():  # (killed before its first last.pt: starts afresh)
        raise UsageError(f"nothing to resume: no run was started in {run_dir} (drop --resume to start one)")
    if not args.resume and (run_dir / "last.pt").is_file():
        raise UsageError(f"{run_dir} already holds a run (last.pt): pass --resume to continue it, or choose another --run-dir")
    resuming = args.resume and (run_dir / "last.pt").is_file()  # (without last.pt a resume starts afresh)
    if args.resume:
        try:
            started = json.loads((run_dir / "run_config.json").read_text())
        except (OSError, ValueError):
            started = {}
        now = {"model": to_dict(run.model), "train": to_dict(train_cfg), "data": to_dict(run.data)}
        changed = recipe_differences(started if isinstance(started, dict) else {}, now)
        model = [c.removeprefix("model.") for c in changed if c.startswith("model.")]
        if model:  # its weights would not fit
            raise UsageError(
                f"cannot resume {run_dir}: it was started with another model ({listed(model)}); resume with the "
                "config it was started with, or choose another --run-dir"
            )
        allowed = set(RESUMABLE_CHANGES)
        if now["train"]["lr_schedule"] == "constant" and not any(c.startswith("train.lr_schedule:") for c in changed):
            allowed.add("train.epochs")
        recipe = [c for c in changed if c.split(":")[0] not in allowed]
        if resuming and recipe:  # a resumed run continues the one it was
            raise UsageError(
                f"cannot resume {run_dir}: this command trains differently from the run it would continue "
                f"({listed(recipe)}); resume it with --config {run_dir / 'run_config.json'} (the recipe it was "
                "started with; its epochs, under a constant learning rate, and --device may change), or choose "
                "another --run-dir"
            )
    if resuming:
        import torch

        from .training import resume_problem

        try:
            # mmap: only the few bytes read here come off the disk; meta_train loads the file for real later
            state = torch.load(run_dir / "last.pt", map_location="cpu", weights_only=True, mmap=True)
        except Exception as exc:  # noqa: BLE001 - a damaged file is the user's to remove
            raise UsageError(
                f"{run_dir / 'last.pt'} cannot be read ({type(exc).__name__}); remove it to restart the run"
            ) from None
        problem = resume_problem(state, world_size)
        if problem:
            raise UsageError(f"cannot resume {run_dir}: {problem}")
    problem = image_model_problem(run.model.backbone, "this config")
    if problem:
        raise UsageError(problem)
    if train_cfg.init_from is not None and not resuming:  # last.pt replaces it
        from .checkpoint import build_model
        from .training import init_weights

        try:  # a CheckpointError (not a checkpoint) passes through; weights that do not fit are the user's choice
            init_weights(build_model(run.model), train_cfg.init_from)
        except ValueError as exc:
            raise UsageError(f"{exc} (train.init_from must be a checkpoint of the same method and backbone)") from None
    if args.out is not None and Path(args.out).is_dir():
        raise UsageError(f"--out {args.out} is a folder; give a file name such as model.pt")
    need_data([run.data.train] + ([run.data.val] if run.data.val else []))


def check_json_path(path: Path | None) -> None:
    """``evaluate --json``: a file it can write, checked before the episodes run."""
    if path is None:
        return
    if path.is_dir():
        raise UsageError(f"--json {path} is a folder; give a file name such as result.json")
    if not path.parent.is_dir():
        raise UsageError(f"--json {path}: the folder {path.parent} does not exist")


def default_json(args: argparse.Namespace, dataset: str, n_way: int, n_shot: int, model_n_way: int) -> Path:
    """Where ``evaluate`` writes its result without ``--json``: beside a checkpoint file, or in the current folder
    for a bundled model named without a path. The name carries every choice that changes the result (the
    dataset, ways, shots, MAML's steps, the query batch, queries, seed, episodes), so that two different evaluations do
    not overwrite each other."""
    path = Path(args.checkpoint)
    if path.is_file():
        folder, stem = path.parent, path.stem
    else:  # a bundled name such as transductive/omniglot_emnist_hypermaml_1shot
        folder, stem = Path("."), str(args.checkpoint).removesuffix(".pt").replace("/", "_")
    parts = [f"{n_way}way"] if n_way != model_n_way else []
    parts += [f"{args.steps}steps"] if args.steps is not None else []
    parts += [f"querybatch{args.query_batch}"] if args.query_batch is not None else []
    parts += [f"{args.n_query}query"] if args.n_query != 15 else []
    parts += [f"seed{args.seed}"] if args.seed != 0 else []
    parts += [f"{args.episodes}episodes"] if args.episodes != 600 else []  # a smoke test never overwrites the real one
    return folder / f"{stem}.eval_{dataset}_{n_shot}shot{''.join('_' + p for p in parts)}.json"
