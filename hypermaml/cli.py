"""The ``hypermaml`` command (also ``python -m hypermaml``): ``train``, ``evaluate``, ``configs``, ``data``.

    hypermaml data prepare                      # the datasets, into the per-user data folder
    hypermaml configs                           # the shipped run configs by name
    hypermaml train --config omniglot_emnist_hypermaml_1shot --run-dir runs/hm1
    hypermaml evaluate --checkpoint runs/hm1/best.pt --dataset emnist --query-batch 1

One parser for all. Every mistake in what a user asked for (a missing or malformed config, a bad value, an
unknown dataset, a checkpoint that is not one or does not fit, a run folder in the wrong state) ends in one line
``error: ...`` on stderr and exit status 2, before any data is loaded or any file is written
(``hypermaml.cli_checks``); only episodes the data cannot fill (too few classes or examples) are found once the
data has loaded, still before anything is written. Anything else
is a bug and keeps its traceback. The work itself is library code: ``hm.meta_train`` (``hypermaml.training``)
and ``hm.evaluate`` (``hypermaml.evaluation``).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from pathlib import Path

from .cli_checks import UsageError, check_json_path, check_run_dir, default_json, image_model_problem, need_data, need_device


class Parser(argparse.ArgumentParser):
    def error(self, message: str):  # argparse's own mistakes: the same one line as ours
        self.exit(2, f"error: {self.prog}: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    from .data import DATASETS

    parser = Parser(prog="hypermaml", description="HyperMAML, MAML and ProtoNet: meta-train and evaluate few-shot models.")
    from . import __version__

    parser.add_argument("--version", action="version", version=f"hypermaml {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="{train,evaluate,configs,data}", parser_class=Parser)

    train = commands.add_parser(
        "train",
        help="meta-train one model from a run config",
        description="Meta-train one model from a run config; keeps the best validation checkpoint.",
    )
    train.add_argument(
        "--config",
        required=True,
        help="a shipped config's name (hypermaml configs lists them), e.g. omniglot_emnist_hypermaml_1shot, "
        "or a config file (JSON, or TOML by extension)",
    )
    train.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="SECTION.FIELD=VALUE",
        help="override one field, e.g. --set train.epochs=5 (repeatable)",
    )
    train.add_argument("--run-dir", required=True, help="folder for last.pt, best.pt and metrics.jsonl")
    train.add_argument(
        "--resume",
        action="store_true",
        help="continue from RUN_DIR/last.pt with the recipe it was started with: repeat the command, or give --config "
        "RUN_DIR/run_config.json (more epochs under a constant learning rate, and --device, may change)",
    )
    train.add_argument("--device", choices=["cpu", "cuda"], default=None, help="overrides train.device")
    train.add_argument("--seed", type=int, default=None, help="overrides train.seed")
    _threads_option(train)
    train.add_argument("--out", default=None, help="also copy the best checkpoint here (with its metrics)")
    train.add_argument(
        "--max-minutes",
        type=float,
        default=None,
        help="stop between epochs: the first always runs, a later one only if an epoch as long as the mean so far "
        "would end within this much wall time (the log says how many epochs ran)",
    )
    train.add_argument("--no-progress", action="store_true", help="no progress bar (for logs)")
    train.set_defaults(run=run_train)

    evaluate = commands.add_parser(
        "evaluate",
        help="mean accuracy ± 95%% CI over episodes",
        description="Mean accuracy ± 95% CI over episodes, printed and written as JSON.",
    )
    evaluate.add_argument(
        "--checkpoint", required=True, help="a .pt file, or a bundled model's name (e.g. omniglot_emnist_hypermaml_1shot)"
    )
    evaluate.add_argument("--dataset", required=True, help="emnist, omniglot, digits, or a full name: " + ", ".join(DATASETS))
    evaluate.add_argument("--split", default="test", choices=["train", "val", "test"], help="ignored for full names and digits")
    evaluate.add_argument("--n-way", type=int, default=None, help="default: the model's (ProtoNet takes any)")
    evaluate.add_argument("--n-shot", type=int, default=None, help="default: the shot count the model was trained with")
    evaluate.add_argument("--n-query", type=int, default=15, help="queries per class (the paper uses 15)")
    evaluate.add_argument("--episodes", type=int, default=600, help="episodes to average over (default: %(default)s)")
    evaluate.add_argument(
        "--seed", type=int, default=0, help="draws the episodes: the same seed, the same episodes (default: %(default)s)"
    )
    evaluate.add_argument("--steps", type=int, default=None, help="MAML: inner steps at test time (default: its test_steps)")
    evaluate.add_argument(
        "--query-batch",
        type=int,
        default=None,
        metavar="N",
        help="queries the model sees at once: 1 = each query alone (what a person with one picture "
        "gets); default all of an episode's queries together (the paper's protocol)",
    )
    evaluate.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    _threads_option(evaluate)
    evaluate.add_argument(
        "--json",
        type=Path,
        default=None,
        help="write the result here (default: beside a checkpoint file; for a bundled model, the current folder)",
    )
    evaluate.set_defaults(run=run_evaluate)

    configs = commands.add_parser(
        "configs",
        help="list the shipped run configs (train --config takes each name)",
        description="The run configs shipped with the package, by name, with what each trains.",
    )
    configs.add_argument("--show", metavar="NAME", default=None, help="print one config in full (JSON)")
    configs.set_defaults(run=run_configs)
    _add_data_parser(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run one command; returns its exit status (0, or 2 after a one-line error)."""
    from .config import ConfigError
    from .data import DataMissingError
    from .errors import CheckpointError
    from .memory import keep_freed_memory

    args = build_parser().parse_args(argv)
    keep_freed_memory()  # training and evaluation free and re-allocate the same activations every step
    try:
        args.run(args)
    except (UsageError, ConfigError, CheckpointError, DataMissingError) as exc:
        if not getattr(exc, "quiet", False):
            print(f"error: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # output piped into a reader that stopped early (| head): quiet, as other tools are
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no second error when Python flushes at exit
        return 1
    return 0


def _threads_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--threads",
        type=int,
        default=None,
        help="torch CPU threads (default: torch's choice; 1 is often fastest on a small or busy machine)",
    )


def _use_threads(threads: int | None) -> None:
    """``--threads``, applied for the whole command (checked positive with the other options)."""
    if threads:
        import torch

        torch.set_num_threads(threads)


def _positive(name: str, value, allow_none: bool = True) -> None:
    if value is None and allow_none:
        return
    if value is None or value <= 0:
        raise UsageError(f"{name} must be positive, got {value}")


def run_train(args: argparse.Namespace) -> None:
    """``hypermaml train``. Under ``torchrun`` (its RANK/WORLD_SIZE variables are set) it joins the process group
    first (gloo on CPU, NCCL on CUDA) and trains data parallel; every check still comes before anything is
    loaded or written, and a problem any process finds is printed once, by rank 0, and ends every process."""
    from .config import ConfigError, load_run_config
    from .errors import CheckpointError

    # Everything the user gave is checked first: nothing is loaded or written before it all holds.
    # --device is applied as an override, so the config's checks (bfloat16 needs CUDA) see the device it names
    run = load_run_config(args.config, [*args.overrides, *([f"train.device={args.device}"] if args.device else [])])
    train_cfg = run.train
    if args.seed is not None:
        if args.seed < 0:
            raise UsageError(f"--seed must be >= 0, got {args.seed}")
        train_cfg = dataclasses.replace(train_cfg, seed=args.seed)
    _positive("--threads", args.threads)
    _positive("--max-minutes", args.max_minutes)
    need_device(train_cfg.device)
    launched = _launched_by_torchrun()
    if launched is None:
        check_run_dir(args, run, train_cfg, world_size=1)
        _train(args, run, train_cfg, rank=0, world_size=1)
        return
    import torch
    import torch.distributed as dist

    rank, world_size, local_rank = launched
    if train_cfg.device == "cuda":  # one GPU per process on each machine
        train_cfg = dataclasses.replace(train_cfg, device=f"cuda:{local_rank}")
    if train_cfg.device.startswith("cuda"):
        torch.cuda.set_device(torch.device(train_cfg.device))
    dist.init_process_group(backend="nccl" if train_cfg.device.startswith("cuda") else "gloo")
    try:
        problem = None
        try:  # the run folder is rank 0's (other machines may not share its file system); data is every machine's
            if rank == 0:
                check_run_dir(args, run, train_cfg, world_size)
            else:
                need_data([run.data.train] + ([run.data.val] if run.data.val else []))
        except Exception as exc:  # noqa: BLE001 - every kind is reported by rank 0, then re-raised here
            problem = exc
        problems = [None] * world_size
        dist.all_gather_object(problems, None if problem is None else str(problem))
        if problem is not None and not isinstance(problem, (UsageError, ConfigError, CheckpointError)):
            raise problem  # a bug: its traceback
        found = [(r, p) for r, p in enumerate(problems) if p is not None]
        if found:
            r, message = found[0]
            raise UsageError(message if r == 0 else f"process {r} of {world_size}: {message}", quiet=rank != 0)
        _train(args, run, train_cfg, rank=rank, world_size=world_size)
    except BaseException:
        dist.destroy_process_group()
        raise
    from .training import leave_process_group

    leave_process_group()  # every rank done (rank 0 wrote and printed last); exits with status 0


def _launched_by_torchrun() -> tuple[int, int, int] | None:
    """(rank, world_size, local_rank) when ``torchrun`` (or another launcher setting its variables) started us."""
    import os

    if "RANK" not in os.environ or "WORLD_SIZE" not in os.environ:
        return None
    return int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"]), int(os.environ.get("LOCAL_RANK", "0"))


def _train(args: argparse.Namespace, run, train_cfg, rank: int, world_size: int) -> None:
    import torch

    from .checkpoint import build_model, save
    from .config import to_dict
    from .data import load_split
    from .episodes import EpisodeSampler
    from .training import meta_train

    _use_threads(args.threads)
    model_cfg = run.model
    train_set = load_split(run.data.train)
    try:  # too few classes or examples for the episodes asked for: the user's to change, before anything is written
        sampler = EpisodeSampler(
            train_set.x, train_set.y, model_cfg.n_way, model_cfg.n_shot, train_cfg.n_query, train_set.class_names
        )
    except ValueError as exc:
        raise UsageError(f"{run.data.train}: {exc}") from None
    val_sampler = None
    if run.data.val and rank == 0:  # only rank 0 validates
        val_set = load_split(run.data.val)
        try:
            val_sampler = EpisodeSampler(val_set.x, val_set.y, model_cfg.n_way, model_cfg.n_shot, 15, val_set.class_names)
        except ValueError as exc:
            raise UsageError(f"{run.data.val}: {exc}") from None
    torch.manual_seed(train_cfg.seed)
    model = build_model(model_cfg)
    run_dir = Path(args.run_dir)
    if rank == 0:
        run_dir.mkdir(parents=True, exist_ok=True)
        (run_dir / "run_config.json").write_text(json.dumps({**to_dict(run), "train": to_dict(train_cfg)}, indent=2))
    if world_size > 1 and rank == 0:
        print(
            f"data parallel: {world_size} processes x meta-batch {train_cfg.meta_batch} = {world_size * train_cfg.meta_batch} episodes per step"
        )
    started = time.time()
    result = meta_train(
        model,
        sampler,
        train_cfg,
        val_sampler=val_sampler,
        run_dir=run_dir,
        resume=args.resume,
        progress=not args.no_progress,
        print_epochs=True,
        max_seconds=None if args.max_minutes is None else 60 * args.max_minutes,
    )
    if rank != 0:
        return
    best = (
        "no validation"
        if result.best_val is None
        else f"best validation accuracy {100 * result.best_val:.2f}% at epoch {result.best_epoch}"
    )
    print(f"{best}; {time.time() - started:.0f} s")
    if args.out:
        metrics = {**model.metrics, "config_file": str(args.config), "overrides": args.overrides}
        save(model, args.out, metrics=metrics)
        print(f"wrote {args.out}")


def run_configs(args: argparse.Namespace) -> None:
    """``hypermaml configs``: the shipped configs by name, one line each (``--show NAME``: one in full)."""
    from .config import load_run_config, resolve_config, shipped_configs, to_dict

    if args.show is not None:
        resolve_config(args.show)  # ConfigError naming the shipped configs
        print(json.dumps(to_dict(load_run_config(args.show)), indent=2))
        return
    names = shipped_configs()
    width = max(map(len, names))
    for name in names:
        run = load_run_config(name)
        m, t = run.model, run.train
        start = f"from {t.init_from}" if t.init_from else "from scratch"
        print(
            f"{name:<{width}}  {m.method} {m.n_way}-way {m.n_shot}-shot, {m.backbone.batch_norm}, "
            f"{t.epochs} x {t.episodes_per_epoch} episodes {start}; data {run.data.train} -> {run.data.val or 'no validation'}"
        )
    print(f"\ntrain one: hypermaml train --config {names[0]} --run-dir runs/NAME")


def run_evaluate(args: argparse.Namespace) -> dict:
    from .data import DATASETS, load_split

    name = "digits" if args.dataset == "digits" else args.dataset if args.dataset in DATASETS else f"{args.dataset}-{args.split}"
    if name not in DATASETS:
        splits = [full.removeprefix(f"{args.dataset}-") for full in DATASETS if full.startswith(f"{args.dataset}-")]
        if splits:
            raise UsageError(f"{args.dataset} has no {args.split!r} split; --split takes {', '.join(splits)}")
        raise UsageError(f"unknown dataset {args.dataset!r}; choose emnist, omniglot, digits or one of: " + ", ".join(DATASETS))
    for option, value, least in (
        ("--n-way", args.n_way, 2),
        ("--n-shot", args.n_shot, 1),
        ("--n-query", args.n_query, 1),
        ("--episodes", args.episodes, 1),
        ("--query-batch", args.query_batch, 1),
        ("--steps", args.steps, 0),
    ):
        if value is not None and value < least:
            raise UsageError(f"{option} must be at least {least}, got {value}")
    _positive("--threads", args.threads)
    need_device(args.device)
    check_json_path(args.json)
    from .checkpoint import load  # torch from here on: the mistakes above are answered without it
    from .episodes import EpisodeSampler
    from .evaluation import evaluate

    _use_threads(args.threads)
    model = load(args.checkpoint, device=args.device)
    problem = image_model_problem(model.config.backbone, str(args.checkpoint))
    if problem:
        raise UsageError(problem)
    n_way = model.config.n_way if args.n_way is None else args.n_way
    if model.config.method != "protonet" and n_way != model.config.n_way:
        raise UsageError(
            f"this {model.config.method} model classifies exactly {model.config.n_way} ways (its head has "
            f"{model.config.n_way} outputs); drop --n-way or pass --n-way {model.config.n_way} (ProtoNet takes any)"
        )
    adapt_kwargs = {}
    if args.steps is not None:
        if model.config.method != "maml":
            raise UsageError(f"--steps applies to MAML checkpoints only; this one is {model.config.method}")
        adapt_kwargs["steps"] = args.steps
    n_shot = args.n_shot or model.config.n_shot
    if model.config.method == "hypermaml" and model.config.hypermaml.aggregation == "concat" and n_shot != model.config.n_shot:
        raise UsageError(
            f"this HyperMAML model reads exactly {model.config.n_shot} shot(s) per class; --n-shot {n_shot} needs a model "
            "trained with hypermaml.aggregation=mean"
        )
    need_data([name])
    data = load_split(name)
    try:
        sampler = EpisodeSampler(data.x, data.y, n_way, n_shot, args.n_query, data.class_names)
    except ValueError as exc:  # too few classes or examples for the episode asked for
        raise UsageError(f"{name}: {exc}") from None
    result = evaluate(
        model,
        sampler,
        args.episodes,
        seed=args.seed,
        device=args.device,
        progress=True,
        query_batch=args.query_batch,
        **adapt_kwargs,
    )
    steps = adapt_kwargs.get("steps", model.config.maml.test_steps) if model.config.method == "maml" else None
    out = {
        "checkpoint": str(args.checkpoint),
        "method": model.config.method,
        "dataset": name,
        "n_way": n_way,
        "n_shot": n_shot,
        "n_query": args.n_query,
        "query_batch": args.query_batch,
        "episodes": args.episodes,
        "seed": args.seed,
        "maml_steps": steps,
        "accuracy_pct": round(100 * result.mean, 2),
        "ci95_pct": round(100 * result.ci95, 2),
        **result.to_dict(),
    }
    label = f"{model.config.method}{f' ({steps} steps)' if steps is not None else ''}"
    print(
        f"{label} on {name}, {n_way}-way {n_shot}-shot: {100 * result.mean:.2f} ± {100 * result.ci95:.2f} % "
        f"({args.episodes} episodes, seed {args.seed})"
    )
    path = args.json or default_json(args, name, n_way, n_shot, model.config.n_way)
    path.write_text(json.dumps(out, indent=2) + "\n")
    print(f"wrote {path}")
    args.result = out
    return out


def _add_data_parser(commands) -> None:
    """``hypermaml data prepare``: the data folder from the official archives (downloaded, or ``--from`` a folder)."""
    data = commands.add_parser("data", help="prepare the datasets", description="The datasets the named splits read.")
    actions = data.add_subparsers(dest="data_command", required=True, metavar="{prepare}", parser_class=Parser)
    prepare = actions.add_parser(
        "prepare",
        help="build the data folder from the official Omniglot and EMNIST archives",
        description="Build the data folder every named dataset reads from the official archives: Omniglot's "
        "images_background.zip and images_evaluation.zip, EMNIST's gzip.zip (or its two ByClass test .gz files). "
        "Without --from they are downloaded (checksums verified; an interrupted download resumes).",
    )
    prepare.add_argument(
        "--dest",
        default=None,
        metavar="DIR",
        help="the folder to write (default: the per-user data folder, where HYPERMAML_DATA defaults)",
    )
    prepare.add_argument(
        "--from", dest="source", default=None, metavar="DIR", help="a folder holding the archives (offline: no download)"
    )
    prepare.add_argument("--no-progress", action="store_true", help="no progress bars (for logs)")
    prepare.set_defaults(run=run_data_prepare)


def run_data_prepare(args: argparse.Namespace) -> Path:
    """``hypermaml data prepare``; a missing, damaged or undownloadable archive is one line and exit status 2."""
    import os

    from .data import DATA_ENV, DownloadError, default_data_dir
    from .data.prepare import PrepareError, prepare

    try:
        dest = prepare(args.dest, args.source, progress=not args.no_progress)
    except (PrepareError, DownloadError) as exc:
        raise UsageError(str(exc)) from None
    print(f"prepared {dest}")
    if os.environ.get(DATA_ENV):
        if Path(os.environ[DATA_ENV]).expanduser().resolve() != dest.resolve():
            print(f"note: ${DATA_ENV} points at {os.environ[DATA_ENV]}; set it to {dest} to use this folder")
    elif dest.resolve() != default_data_dir().resolve():
        print(f"use it: export {DATA_ENV}={dest}  (without it the readers look in {default_data_dir()})")
    return dest


if __name__ == "__main__":
    sys.exit(main())
