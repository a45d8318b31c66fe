"""How accurate are the committed Omniglot checkpoints under both query protocols? (It also writes the README's results table.)

    python -m benchmarks.omniglot_emnist            # 600 test episodes per checkpoint, seed 0
    python -m benchmarks.omniglot_emnist --write    # also writes the metrics beside each checkpoint
    python -m benchmarks.omniglot_emnist --from-runs runs --write   # first import the best run of each row
    python -m benchmarks.omniglot_emnist --readme   # the README block from the stored metrics only

Two benchmarks, 5-way, 15 queries per class, mean ± 1.96·σ/√600:
- ``omniglot_emnist``: meta-trained on Omniglot without Latin, tested on the EMNIST classes with an odd
  index. Rows: HyperMAML, MAML, ProtoNet at 1 and 5 shots.
- ``omniglot_vinyals``: the within-Omniglot sanity row, Vinyals split, 1 shot.

Every row is measured two ways on the same episodes: **queries together** (all 75 queries of an episode in
one batch, the paper's protocol) and **one at a time** (each query alone, what a person with one picture
gets). The shipped checkpoints (``pretrained/``) are batch-independent, so both agree; the transductive
ones they were fine-tuned from (``pretrained/transductive/``) are measured too, for comparison.

``--from-runs RUNS`` looks, for each row, at every run folder named ``<method>_<k>shot`` or
``<method>_<k>shot_<variant>`` (``vinyals_<method>_1shot[_<variant>]`` for the Vinyals row) and imports
the ``best.pt`` of the one with the best *validation* accuracy (the test classes are never used to choose),
recording every candidate's validation score. Runs named ``..._s<seed>`` are seeds of one recipe: the
chosen run's sibling seeds are evaluated too and stored as ``seed_runs`` (mean ± std across seeds).
Last line: one JSON object.
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import time
from pathlib import Path

import torch

import hypermaml as hm
from benchmarks.readme import replace_block
from hypermaml.data import load_split
from hypermaml.data.reference import OMNIGLOT_EMNIST, OMNIGLOT_VINYALS, PAPER_PROTOCOL
from hypermaml.training import trained_from_scratch

ROOT = Path(__file__).resolve().parents[1]
PRETRAINED = ROOT / "pretrained"
METHODS = ("hypermaml", "maml", "protonet")
# benchmark -> test split, shots, the published numbers to compare with (mean ± interval, %)
BENCHMARKS = {
    "omniglot_emnist": {"test": "emnist-test", "shots": (1, 5), "run_prefix": "", "paper": OMNIGLOT_EMNIST},
    "omniglot_vinyals": {"test": "omniglot-test", "shots": (1,), "run_prefix": "vinyals_", "paper": OMNIGLOT_VINYALS},
}
PAPER = OMNIGLOT_EMNIST
EPISODES, SEED, N_QUERY = 600, 0, 15
PROTOCOLS = {"together": None, "alone": 1}  # name -> query_batch of hm.evaluate


def checkpoint_path(method: str, shot: int, benchmark: str = "omniglot_emnist", transductive: bool = False) -> Path:
    folder = PRETRAINED / "transductive" if transductive else PRETRAINED
    return folder / f"{benchmark}_{method}_{shot}shot.pt"


def measure(model: hm.FewShotModel, data, shot: int, episodes: int = EPISODES, query_batch: int | None = None) -> hm.EvalResult:
    sampler = hm.EpisodeSampler(data.x, data.y, 5, shot, N_QUERY, data.class_names)
    return hm.evaluate(model, sampler, episodes, seed=SEED, query_batch=query_batch)


def candidate_runs(runs: Path, name: str) -> list[Path]:
    """Run folders for one row: ``name`` itself or ``name_<variant>``, each with a best.pt."""
    return sorted(d for d in runs.iterdir() if (d.name == name or d.name.startswith(name + "_")) and (d / "best.pt").is_file())


def _run_record(run: Path) -> dict:
    history = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    config = json.loads((run / "run_config.json").read_text())
    return {
        "run": run.name,
        "epochs_run": len(history),
        "episodes_seen": len(history) * config["train"]["episodes_per_epoch"],
        "train_seconds": round(sum(h["seconds"] for h in history)),
        "run_config": config,
        "train_history": history,  # every epoch that ran (best.pt's record stops at the chosen one)
    }


def with_threads(hardware: str, runs: list[Path]) -> str:
    """``hardware`` and the torch threads the runs' epochs recorded (``metrics.jsonl``), e.g. "…; torch threads
    per process (recorded per epoch): 1 or 2"; "threads not recorded per epoch" where an epoch predates the record."""
    counts = [json.loads(line).get("threads") for run in runs for line in (run / "metrics.jsonl").read_text().splitlines()]
    if not counts or None in counts:
        return f"{hardware}; threads not recorded per epoch"
    used = sorted(set(counts))
    return f"{hardware}; torch threads per process (recorded per epoch): {' or '.join(map(str, used))}"


def _hardware(run: Path, seed_runs: list[Path], hardware: str | None) -> dict:
    """The metrics' ``hardware`` entry: the run folder's ``hardware.txt`` if it has one, else ``hardware`` with the
    threads the seeds' epochs recorded, else nothing."""
    if (run / "hardware.txt").is_file():
        return {"hardware": (run / "hardware.txt").read_text().strip()}
    return {"hardware": with_threads(hardware, seed_runs)} if hardware else {}


def import_runs(
    runs: Path,
    only: list[str] | None = None,
    hardware: str | None = None,
    choose: str | None = None,
    selection: dict | None = None,
) -> None:
    """For each row, the run with the best validation accuracy -> pretrained/, with what the run did. ``choose``
    names the run to import instead (``scripts/ship_from_scratch.sh``: the seed best on the common validation
    episodes, whose scores ``selection`` holds and the metrics keep)."""
    for benchmark, spec in BENCHMARKS.items():
        for method in METHODS:
            for shot in spec["shots"]:
                row = f"{method}_{shot}shot"
                if only and f"{spec['run_prefix']}{row}" not in only:
                    continue
                found = candidate_runs(runs, f"{spec['run_prefix']}{row}")
                if not found:
                    continue
                loaded = {d.name: hm.load(d / "best.pt") for d in found}
                scores = {name: m.metrics["val_mean"] for name, m in loaded.items()}
                chosen = [d for d in found if d.name == choose]
                if choose and not chosen:
                    raise SystemExit(f"--choose {choose}: no such run among {[d.name for d in found]}")
                run = chosen[0] if chosen else max(found, key=lambda d: scores[d.name])
                model = loaded[run.name]
                seed_match = re.fullmatch(r"(.*)_s\d+", run.name)
                seeds = sorted(d.name for d in found if seed_match and re.fullmatch(re.escape(seed_match[1]) + r"_s\d+", d.name))
                model.metrics = {
                    **model.metrics,
                    **_run_record(run),
                    "chosen_by_validation_from": scores,
                    **({"chosen_by_common_validation": selection} if chosen and selection else {}),
                    **({"seed_runs": {name: {"val_mean": scores[name]} for name in seeds}} if len(seeds) > 1 else {}),
                    **_hardware(run, [runs / name for name in seeds] or [run], hardware),
                }
                target = checkpoint_path(method, shot, benchmark)
                for name in seeds:  # kept beside the runs for the seed evaluation (not committed)
                    if name != run.name:
                        model.metrics["seed_runs"][name]["path"] = str((runs / name / "best.pt").resolve())
                hm.save(model, target)
                print(
                    f"imported {run}/best.pt (val {100 * scores[run.name]:.2f}, epoch {model.metrics.get('best_epoch')} "
                    f"of {model.metrics['epochs_run']}) -> {target.name}"
                )


def evaluate_checkpoint(path: Path, test, shot: int, episodes: int = EPISODES) -> dict:
    """Both protocols (and, for seed rows, every seed's test accuracy) as a metrics update."""
    model = hm.load(path)
    out: dict = {
        "test_protocol": f"{test_name(path)}, 5-way {shot}-shot, {N_QUERY} queries/class, {episodes} episodes, seed {SEED}",
        "batch_norm": model.config.backbone.batch_norm,
    }
    for name, query_batch in PROTOCOLS.items():
        started = time.perf_counter()
        result = measure(model, test, shot, episodes, query_batch)
        suffix = "" if name == "together" else "_alone"
        out.update(
            {
                f"test_accuracy{suffix}": result.mean,
                f"test_ci95{suffix}": result.ci95,
                f"test_accuracies{suffix}": [round(float(a), 6) for a in result.accuracies],
                f"eval_seconds{suffix}": round(time.perf_counter() - started, 1),
            }
        )
    seed_runs = model.metrics.get("seed_runs")
    if seed_runs:
        for name, record in seed_runs.items():
            if name == model.metrics.get("run"):
                record["test_accuracy"] = out["test_accuracy"]
            elif "path" in record and Path(record["path"]).is_file():
                record["test_accuracy"] = measure(hm.load(record["path"]), test, shot, episodes).mean
            record.pop("path", None)
        out["seed_runs"] = seed_runs
    return out


def test_name(path: Path) -> str:
    return next(spec["test"] for b, spec in BENCHMARKS.items() if path.stem.startswith(b))


def _stored(method: str, shot: int, benchmark: str = "omniglot_emnist", transductive: bool = False) -> dict | None:
    path = checkpoint_path(method, shot, benchmark, transductive).with_suffix(".json")
    return json.loads(path.read_text()) if path.is_file() else None


def _pct(m: dict, suffix: str = "") -> str:
    return f"{100 * m['test_accuracy' + suffix]:.2f} ± {100 * m['test_ci95' + suffix]:.2f}"


def seed_summary(m: dict) -> str:
    """'mean ± std over n seeds' of the test accuracy, for rows trained with several seeds."""
    accs = [r["test_accuracy"] for r in m.get("seed_runs", {}).values() if "test_accuracy" in r]
    if len(accs) < 2:
        return ""
    return f"{100 * statistics.mean(accs):.2f} ± {100 * statistics.stdev(accs):.2f} ({len(accs)} seeds)"


def stored_table(benchmark: str = "omniglot_emnist") -> str:
    """A README table from the metrics JSON beside each checkpoint (no evaluation)."""
    spec = BENCHMARKS[benchmark]
    ref = "paper (%)" if benchmark == "omniglot_emnist" else "published (%)"
    rows = [
        f"| method | shots | normalisation | one at a time (%) | queries together (%) | across seeds (%) | {ref} | "
        "transductive model it was fine-tuned from: together / one at a time (%) | validation (%) | trained | epoch kept |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for method in METHODS:
        for shot in spec["shots"]:
            m = _stored(method, shot, benchmark)
            t = _stored(method, shot, benchmark, transductive=True)
            old = f"{_pct(t)} / {_pct(t, '_alone')}" if t and "test_accuracy_alone" in t else ""
            if m is not None and trained_from_scratch(m):
                old = "— (trained from scratch)"
            if m is None:
                rows.append(f"| {method} | {shot} | not trained yet | | | | {spec['paper'][(method, shot)]} | {old} | | | |")
                continue
            how = "from scratch" if trained_from_scratch(m) else "fine-tuning"
            trained = f"{how}: {m['episodes_seen']:,} episodes, {m['train_seconds'] / 60:.0f} min"
            rows.append(
                f"| {method} | {shot} | {m['batch_norm']} | **{_pct(m, '_alone')}** | {_pct(m)} | {seed_summary(m)} | "
                f"{spec['paper'][(method, shot)]} | {old} | {100 * m['val_mean']:.2f} | {trained} | "
                f"{kept_epoch(m)} of {m['epochs_run']} |"
            )
    return "\n".join(rows)


def kept_epoch(m: dict) -> int:
    """The epoch a checkpoint kept: ``best_epoch`` as training records it now, ``epoch`` in older records."""
    return m["best_epoch"] if "best_epoch" in m else m["epoch"]


def training_log(m: dict) -> list[dict]:
    """Every epoch's record: ``train_history`` now, ``history`` in older records."""
    return m["train_history"] if "train_history" in m else m["history"]


START, END = "<!-- results:start -->", "<!-- results:end -->"


def comparisons() -> list[str]:
    """What the stored numbers say about the issue's questions, worded from the numbers themselves."""
    lines = []
    for shot in (1, 5):
        hyper, maml, proto = (_stored(m, shot) for m in METHODS)
        if hyper is None or "test_accuracy_alone" not in hyper:
            continue
        paper = float(PAPER[("hypermaml", shot)].split()[0])
        ours = 100 * hyper["test_accuracy_alone"]
        lines.append(
            f"- {shot}-shot, one query at a time: HyperMAML {_pct(hyper, '_alone')} is "
            f"{'at or above' if ours >= paper else '**below**'} the paper's {paper:.2f} (which the paper "
            "measured with queries together)"
        )
        for name, other in (("our MAML", maml), ("our ProtoNet", proto)):
            if other is not None and "test_accuracy_alone" in other:
                a, b = hyper["test_accuracy_alone"], other["test_accuracy_alone"]
                overlap = abs(a - b) < hyper["test_ci95_alone"] + other["test_ci95_alone"]
                lines[-1] += (
                    f"; {'above' if a > b else '**below**'} {name} ({_pct(other, '_alone')}"
                    f"{', the intervals overlap' if overlap else ''})"
                )
        lines[-1] += "."
    return lines


def transductive_loss() -> str:
    """How many points the stored transductive models of the fine-tuned rows (the first stage of a shipped
    checkpoint) lose one query at a time, as 'low–high'; a row trained from scratch has no first stage."""
    losses = [
        100 * (t["test_accuracy"] - t["test_accuracy_alone"])
        for benchmark, spec in BENCHMARKS.items()
        for method in METHODS
        for shot in spec["shots"]
        if (t := _stored(method, shot, benchmark, transductive=True)) and "test_accuracy_alone" in t
        if not ((m := _stored(method, shot, benchmark)) and trained_from_scratch(m))
    ]
    return f"{min(losses):.0f}–{max(losses):.0f}" if losses else "—"


def readme_block() -> str:
    """The README's results block, generated from the stored metrics (``--readme`` writes it)."""
    out = [
        START,
        "### Results",
        "",
        "Test: 5-way, 15 queries per class, 600 episodes, seed 0, mean ± 95% CI (1.96·σ/√600). "
        "Generated by `.venv/bin/python -m benchmarks.omniglot_emnist --readme` from the metrics stored "
        "beside each checkpoint; the tests re-evaluate a slice of every committed checkpoint's episodes and "
        "check it gives the stored per-episode accuracies. **One at a time** classifies each query alone "
        "(what a person with one picture gets); **queries together** feeds all 75 queries of an episode in "
        f"one batch. The paper's numbers are {PAPER_PROTOCOL}. The shipped models are batch-independent "
        "(their normalisation takes statistics from the support set and the image itself), so their two "
        f"columns agree; the transductive models (the first stage of the fine-tuned rows) lose {transductive_loss()} "
        "points one at a time. *Validation* is the best EMNIST-validation (or Omniglot-validation) accuracy of "
        "the run, on the 200 episodes its seed draws, the only number used to choose normalisations and epochs; "
        "the seeds of a row trained from scratch are compared on 1,000 common validation episodes instead "
        "(`benchmarks/from_scratch.py`). The test classes were never used to choose.",
        "",
        "**Omniglot → EMNIST** (test: the 31 EMNIST classes with an odd index)",
        "",
        stored_table("omniglot_emnist"),
        "",
        *comparisons(),
        "",
        "**Within Omniglot, Vinyals split, 5-way 1-shot** (the sanity row; test: the 1,692 Vinyals test "
        "classes, rotations included; published numbers from the MAML and ProtoNet papers)",
        "",
        stored_table("omniglot_vinyals"),
        "",
        '"trained" is the training the checkpoint went through and its wall time (validation excluded): '
        "*from scratch* is one run from random weights (`hypermaml/configs/<row>.json`; these ran on one or "
        "two threads of a 2-core CPU shared with other runs, so their minutes say little about speed: the time to "
        "79% in docs/reproduce.md does); *fine-tuning* is the "
        "second of two stages, on which the transductive model's own training "
        '(`hypermaml/configs/transductive/`) comes first. "across seeds" is the mean ± standard deviation of the '
        "test accuracy of the seeds of the chosen recipe (how many, beside it): for a row trained from scratch, "
        "runs from random weights; for a fine-tuned row, seeds of the fine-tuning stage, which all start from the same "
        "transductive model (so their spread understates the real one).",
        "",
        END,
    ]
    return "\n".join(out)


def write_readme() -> None:
    replace_block(readme_block(), START, END)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--write", action="store_true", help="write the metrics JSON beside each checkpoint")
    parser.add_argument(
        "--only",
        nargs="+",
        default=None,
        metavar="ROW",
        help="import/evaluate only these rows, e.g. maml_5shot or vinyals_maml_1shot",
    )
    parser.add_argument("--transductive", action="store_true", help="evaluate pretrained/transductive/ instead")
    parser.add_argument(
        "--from-runs", type=Path, default=None, help="first import, for each row, the best-validation run under RUNS (see above)"
    )
    parser.add_argument(
        "--readme",
        action="store_true",
        help="rewrite the results block (README.md, docs/reproduce.md) from the stored metrics and stop",
    )
    parser.add_argument("--episodes", type=int, default=EPISODES, help="test episodes (600 for the README)")
    parser.add_argument(
        "--hardware",
        default=None,
        help="with --from-runs: what the runs were trained on, stored in the metrics (a run folder's "
        "hardware.txt, if any, says it for that run)",
    )
    parser.add_argument("--choose", default=None, metavar="RUN", help="with --from-runs and one --only row: import this run")
    parser.add_argument(
        "--selection", type=Path, default=None, help="with --choose: the scores it was chosen by (JSON), kept in the metrics"
    )
    args = parser.parse_args()
    if args.readme:
        write_readme()
        print(readme_block())
        return
    if args.from_runs is not None:
        selection = json.loads(args.selection.read_text()) if args.selection else None
        import_runs(args.from_runs, args.only, args.hardware, args.choose, selection)
    results = {}
    for benchmark, spec in BENCHMARKS.items():
        test = None
        for method in METHODS:
            for shot in spec["shots"]:
                path = checkpoint_path(method, shot, benchmark, args.transductive)
                if not path.is_file() or (args.only and f"{spec['run_prefix']}{method}_{shot}shot" not in args.only):
                    continue
                test = test if test is not None else load_split(spec["test"])
                update = evaluate_checkpoint(path, test, shot, args.episodes)
                short = {k: v for k, v in update.items() if not k.startswith("test_accuracies") and k != "seed_runs"}
                print(path.relative_to(ROOT), json.dumps(short), seed_summary(update), flush=True)
                results[str(path.relative_to(PRETRAINED))] = short
                if args.write:
                    model = hm.load(path)
                    metrics = {**model.metrics, **update}
                    path.with_suffix(".json").write_text(json.dumps(metrics, indent=2) + "\n")
                    hm.save(model, path, metrics)
    print(json.dumps(results))


if __name__ == "__main__":
    torch.set_num_threads(1)
    main()
