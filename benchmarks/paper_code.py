"""How fast is our library against the HyperMAML paper's public code on the same workload, alternated in one run?

    .venv/bin/python -m benchmarks.paper_code --paper /path/to/few-shot-hypernets-public
    .venv/bin/python -m benchmarks.paper_code --paper /path/to/few-shot-hypernets-public --quick   # 4 rounds
    .venv/bin/python -m benchmarks.paper_code --paper PATH --json report.json                    # also store the report

The paper's code (Przewiezlikowski et al., "HyperMAML: Few-Shot Adaptation of Deep Models with Hypernetworks")
is never downloaded by this script: pass the location of a copy. To get one:

    git clone https://github.com/gmum/few-shot-hypernets-public   # the copy this was written against: commit 62a2f86

Workload, the same on both sides: the Omniglot -> EMNIST ("cross_char") setting: a Conv4 backbone (4 blocks of
3x3 convolution with 64 channels, batch norm, ReLU, 2x2 max-pool; 64 features) on 28x28 one-channel images,
5-way episodes with 15 queries per class, random pixel values (timing does not depend on them), fresh weights,
``--threads`` torch threads (default 2), ONE episode per optimiser step (the paper's ``n_task`` set to 1, our
``TrainConfig.meta_batch`` to 1), Adam. Each side keeps its own cross_char HyperMAML configuration: ours from
``hypermaml/configs/omniglot_emnist_hypermaml_<k>shot.json``, the paper's from the flags of its ``commands.sh``.
The hypernetworks therefore differ in size: ours maps each class's enhanced support embeddings (64 + 2 * 5
values per shot, concatenated over the shots) through 2 hidden layers of 256 plus a linear skip to the class's
65 classifier parameters; theirs through 2 hidden layers of 512 (``--hn_head_len 3 --hn_hidden_size 512``), its
inputs 64 + 5 + 1 values per shot (1-shot concatenated, 5-shot averaged over the shots). Both run the Conv4 on
every image, which is most of the work. MAML adapts every parameter on both sides (their
``maml_adapt_classifier`` is off by default).

Each side runs in a worker process of its own (``--child ours`` / ``--child paper``), started once and kept for
the whole run; it builds each model on first use and keeps it. Every round, the driver asks the two workers
for each row in turn, back to back (who goes first alternating from row to row), each measurement short
(``--episodes`` 8 training episodes, MAML 4; the median of ``--repeats`` 10 adaptation calls), so the two
measurements of a pair lie about a second apart. This shared machine's speed drifts by up to 2x over
minutes and jumps within seconds, for both sides alike; many short pairs follow it far better than a few long
runs. So the "ours / paper" column and the goals are, per row, the median over the ``--rounds`` rounds (default
20) of that round's ratio; the two time columns are each side's median. Separate processes because our side
calls ``hypermaml.memory.keep_freed_memory()`` at start-up, our library's documented setting, which changes
glibc's allocator for the whole process: the paper's code runs with glibc's defaults, as a user of it gets them.

What is timed (after a few warm-up steps or calls in the same process):

- Training (episodes/s), HyperMAML and second-order MAML with 1 inner step, 1-shot and 5-shot.
  Ours: ``hm.meta_train(model, sampler, cfg, progress=False)`` over ``--episodes`` episodes (MAML: half as many),
  ``cfg = benchmarks.speed.train_cfg(...)`` with ``meta_batch=1``: drawing each episode from an in-memory image
  tensor (``benchmarks.speed.fake_sampler``), forward, backward, Adam step. MAML is
  ``model_config("maml", k, train_steps=1, first_order=False)``, normalised as our shipped configs are: MetaBN
  at 1 shot (the support's moments normalise support and queries), TaskNorm-I at 5 shots (each image's own
  moments blended with the support's, more arithmetic than batch norm); both batch-independent. The
  rows "ours with the paper's batch norm" time the same MAML with ``batch_norm="transductive"``, the batch
  norm their MAML uses (statistics of the batch it is given), so both sides do the same arithmetic; their
  side of those rows is their MAML's measurement above.
  Theirs: their own ``model.train_loop(epoch, loader, optimizer)`` (what their ``train.py`` calls once per epoch)
  with ``model.n_task = 1``, over a list of ready-made episode tensors shaped (5, k + 15, 1, 28, 28): per episode
  exactly their ``set_forward_loss(x)``, ``loss.item()``, ``backward()``, ``optimizer.step()``,
  ``optimizer.zero_grad()`` (its progress lines, one per 10 episodes, go to a discarded buffer). Episodes cost
  their side nothing (made before timing); their real runs read them through a PIL ``DataLoader``. Adam with
  their ``train.py``'s learning rate (``--lr``: 1e-2 for cross_char HyperMAML; their default 1e-3 for MAML, for
  which ``commands.sh`` has no cross_char run); ``train.py``'s cross_char settings ``task_update_num = 1`` and
  ``train_lr = 0.1``; MAML with ``approx=False`` (second order), their ``--method maml``.
- Adaptation of one task (ms, median of ``--repeats`` calls, eval mode, under ``torch.no_grad()``).
  Ours: ``model.adapt(support_x, support_y)``: support embeddings, hypernetwork, the adapted classifier.
  Theirs: the part of their ``HyperMAML.set_forward`` that produces the adapted classifier, with their own
  methods in their order: ``get_support_data_labels()``, ``feature(support)``,
  ``_get_list_of_delta_params(False, ...)``, ``_update_network_weights(...)`` (the classifier's ``.fast``
  weights), on the support images already sliced out of the episode (as ours gets ``support_x``), with
  ``single_test = True`` as their ``test.py`` sets it. Their own ``test_loop`` runs ``set_forward`` without
  ``torch.no_grad()``, building an autograd graph; timing it under ``no_grad`` favours their side.
- Adaptation and scoring the 75 queries (ms, same conditions): ours ``model.logits(query_x, model.adapt(...))``;
  theirs ``model.set_forward(x)`` on the whole episode (x shaped (5, k + 15, 1, 28, 28)), their evaluation's
  forward, which returns the query scores.
- Our bare Conv4 forward + backward (episodes/s): the limit a head-only method can approach: the same Conv4 as
  our models, one forward over each episode's 5k + 75 images in one batch and one backward of a scalar of its
  output, meta-batch 1; no sampling, head, hypernetwork or optimiser (``benchmarks.speed``'s measurement, which
  uses the configs' meta-batch, at meta-batch 1).

How their code is run on a CPU-only machine, in the ``--child paper`` process only:

- Their code calls ``.cuda()`` on tensors and modules throughout; ``torch.Tensor.cuda`` and
  ``torch.nn.Module.cuda`` are monkeypatched to return ``self``, so everything stays on the CPU.
- ``--paper PATH`` goes at the front of ``sys.path``. Their ``methods/__init__.py`` and
  ``methods/hypernets/__init__.py`` import every method, among them gpytorch-based kernels; the packages
  ``methods`` and ``methods.hypernets`` are therefore registered without running those two files, so importing
  ``methods.maml`` and ``methods.hypernets.hypermaml`` needs torch and numpy only (``methods.hypernets`` gets the
  attribute ``hypernet_types`` with their three names: ``io_utils`` uses its keys as ``--method`` choices). If
  ``neptune`` (their experiment logger) is not installed, an empty stand-in module lets ``io_utils`` import.
- ``params`` come from their own parser, ``io_utils.create_parser('train')`` (their ``hn_args.py`` included),
  given the flags of their ``commands.sh`` cross_char HyperMAML runs: ``--method hyper_maml --model Conv4
  --dataset cross_char --num_classes 4112 --n_shot k --test_n_way 5 --train_n_way 5 --stop_epoch 64
  --lr_scheduler multisteplr --lr 1e-2 --hm_maml_warmup --hm_maml_warmup_epochs 50
  --hm_maml_warmup_switch_epochs 500 --milestones 51 550 --hn_head_len 3 --hn_hidden_size 512
  --hm_enhance_embeddings True --hm_use_class_batch_input`` (5-shot adds ``--hn_sup_aggregation mean``); for MAML
  ``--method maml --model Conv4 --dataset cross_char --num_classes 4112 --n_shot k`` and defaults. The models are
  built as their ``train.py`` builds them (``ConvBlock.maml = True`` and friends, then ``MAML(...)`` /
  ``HyperMAML(...)``).

Deviations from the paper's runs, all deliberate:

- Backbone: their cross_char runs use ``--model Conv4`` (``backbone.ConvNet(4)``: a 3-channel first convolution;
  their loader reads Omniglot as RGB, three equal channels). This benchmark builds their ``backbone.Conv4S``
  (``ConvNetS(4)``, "for omniglot, only 1 input channel", otherwise the same network) so that both sides do the
  same arithmetic on the same one-channel images. ``--paper-backbone Conv4`` times their runs' 3-channel network
  on 3-channel images instead (a slightly larger first layer).
- One episode per optimiser step: ``n_task = 1`` instead of ``train.py``'s 32 for cross_char.
- 15 queries per class: their ``train.py`` trains with 16 (their ``test.py`` uses 15).
- Warm-up: ``--hm_maml_warmup`` trains the first 50 epochs as MAML and blends MAML into the hypernetwork over the
  next 500; this times the hypernetwork path after it: ``model.epoch = 550`` (50 + 500), where their blend
  weight ``p`` is 0. (Their runs last 64 * 32 = 2048 such epochs.) Our config has no warm-up.
- No learning-rate scheduler step, validation, checkpointing or logging on either side.

Run it on an otherwise idle machine: with ``--threads`` as many as the cores and another busy process beside it,
OpenMP's threads wait on each other and every operation takes many times longer, on both sides alike (the report
stores the load average before and after the run).

Output: progress lines, a Markdown table (episodes/s for training, ms for adaptation; "ours / paper" is always a
speed ratio, > 1 when ours is faster: for times, the paper's time / ours), pass/miss lines for the goals, and as
the LAST line one JSON object with all numbers (``--json FILE`` also stores it, indented).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PAPER_REPO = "https://github.com/gmum/few-shot-hypernets-public"
PAPER_COMMIT = "62a2f86"  # the copy this benchmark was written against
# Files a copy of the paper's repository must have for this benchmark.
PAPER_FILES = ("backbone.py", "io_utils.py", "hn_args.py", "methods/maml.py", "methods/hypernets/hypermaml.py")
N_WAY, N_QUERY, SHOTS = 5, 15, (1, 5)
SAVE_COMMAND = ".venv/bin/python -m benchmarks.paper_code --paper PATH --save"

# The flags of the paper's commands.sh, "HyperMAML / cross_char" (5-shot adds --hn_sup_aggregation mean).
PAPER_HYPERMAML_FLAGS = (
    "--method hyper_maml --model Conv4 --dataset cross_char --num_classes 4112 --test_n_way 5 --train_n_way 5 "
    "--stop_epoch 64 --lr_scheduler multisteplr --lr 1e-2 --hm_maml_warmup --hm_maml_warmup_epochs 50 "
    "--hm_maml_warmup_switch_epochs 500 --milestones 51 550 --hn_head_len 3 --hn_hidden_size 512 "
    "--hm_enhance_embeddings True --hm_use_class_batch_input"
).split()
PAPER_MAML_FLAGS = "--method maml --model Conv4 --dataset cross_char --num_classes 4112 --test_n_way 5 --train_n_way 5".split()

# Rows of the comparison: (key, label, unit). Training rows in episodes/s, the others in ms.
ROWS = [
    ("train_hypermaml_1shot", "HyperMAML 1-shot training", "episodes/s"),
    ("train_hypermaml_5shot", "HyperMAML 5-shot training", "episodes/s"),
    ("train_maml2_1shot", "MAML, second order, 1 inner step, 1-shot training", "episodes/s"),
    ("train_maml2_5shot", "MAML, second order, 1 inner step, 5-shot training", "episodes/s"),
    ("train_maml2_bn_1shot", "the same MAML 1-shot, ours with the paper's batch norm", "episodes/s"),
    ("train_maml2_bn_5shot", "the same MAML 5-shot, ours with the paper's batch norm", "episodes/s"),
    ("adapt_hypermaml_1shot", "HyperMAML 1-shot adaptation of one task", "ms"),
    ("adapt_hypermaml_5shot", "HyperMAML 5-shot adaptation of one task", "ms"),
    ("adapt_score_hypermaml_1shot", "HyperMAML 1-shot adaptation + scoring 75 queries", "ms"),
    ("adapt_score_hypermaml_5shot", "HyperMAML 5-shot adaptation + scoring 75 queries", "ms"),
]
# Goals: (label, ratio key, minimum). Ratio keys as in ratios().
GOALS = [
    ("HyperMAML 1-shot training, ours / paper", "train_hypermaml_1shot", 1.4),
    ("HyperMAML 5-shot training, ours / paper", "train_hypermaml_5shot", 1.4),
    ("second-order MAML 1-shot training, ours / paper", "train_maml2_1shot", 1.2),
    ("second-order MAML 5-shot training, ours / paper", "train_maml2_5shot", 1.2),
    ("HyperMAML 1-shot adaptation, paper's time / ours", "adapt_hypermaml_1shot", 2.0),
    ("HyperMAML 5-shot adaptation, paper's time / ours", "adapt_hypermaml_5shot", 2.0),
    ("our HyperMAML 1-shot training / our bare Conv4", "hypermaml_over_conv4_1shot", 0.9),
    ("our HyperMAML 5-shot training / our bare Conv4", "hypermaml_over_conv4_5shot", 0.9),
]


# ---------------------------------------------------------------------------------------------- report


def ratios(median: dict) -> dict[str, float]:
    """Speed ratios, > 1 when ours is faster: episodes/s ours / paper, times paper / ours; and our HyperMAML
    training over our bare Conv4 limit."""
    ours, paper = median["ours"], median["paper"]
    out = {}
    for key, _, unit in ROWS:
        if key in ours and key in paper:
            out[key] = ours[key] / paper[key] if unit == "episodes/s" else paper[key] / ours[key]
    for shot in SHOTS:
        if f"train_hypermaml_{shot}shot" in ours and f"conv4_{shot}shot" in ours:
            out[f"hypermaml_over_conv4_{shot}shot"] = ours[f"train_hypermaml_{shot}shot"] / ours[f"conv4_{shot}shot"]
    return out


def goals(r: dict[str, float]) -> list[dict]:
    """Pass or miss for each goal, from speed ratios (``ratios`` or ``paired_ratios``)."""
    return [
        {"goal": label, "value": round(r[key], 3), "minimum": minimum, "pass": r[key] >= minimum}
        for label, key, minimum in GOALS
        if key in r
    ]


def _num(value: float) -> str:
    return f"{value:.1f}" if value >= 10 else f"{value:.2f}"


def markdown(report: dict) -> str:
    """The comparison table and the goal lines from one report (the JSON this script prints); only
    ``report["median"]`` (``{"ours": {...}, "paper": {...}}``) is required. The ratios are the report's own
    paired ones (``report["ratios"]``) when ``report["paired"]``, else those of the medians (reports stored
    before the runs were paired)."""
    median = report["median"]
    ours, paper = median["ours"], median["paper"]
    r = report["ratios"] if report.get("paired") else ratios(median)
    lines = ["| one episode per optimiser step | ours | paper's code | ours / paper |", "|---|---:|---:|---:|"]
    for key, label, unit in ROWS:
        if key in ours or key in paper:
            cells = [_num(side[key]) if key in side else "—" for side in (ours, paper)]
            lines.append(f"| {label} ({unit}) | {cells[0]} | {cells[1]} | " + (f"{r[key]:.2f}×" if key in r else "—") + " |")
    for shot in SHOTS:
        if f"conv4_{shot}shot" in ours:
            lines.append(
                f"| our bare Conv4 forward + backward, {shot}-shot episode (episodes/s) | {_num(ours[f'conv4_{shot}shot'])} | — | — |"
            )
    for shot in SHOTS:
        key = f"hypermaml_over_conv4_{shot}shot"
        if key in r:
            lines.append(f"| our HyperMAML {shot}-shot training / our bare Conv4 | {r[key]:.2f}× | — | — |")
    explain = "ours / paper: a speed ratio, > 1 when ours is faster (for times: the paper's time / ours)"
    if report.get("paired"):
        explain += "; the median over rounds of each round's ratio of two measurements taken back to back"
    lines += ["", explain + ".", ""]
    for g in goals(r):
        lines.append(f"- {'PASS' if g['pass'] else 'MISS'}  {g['goal']} = {g['value']:.2f}× (goal ≥ {g['minimum']}×)")
    facts = [
        (f"{report['rounds']} round{'s' if report['rounds'] != 1 else ''}, medians") if "rounds" in report else None,
        "both sides in one worker process each, kept for the whole run" if report.get("paired") else None,
        f"{report['threads']} torch thread(s)" if "threads" in report else None,
        f"torch {report['torch']}" if "torch" in report else None,
        f"{report['cpu']}, {report['cpu_count']} cores" if "cpu" in report else None,
        f"their backbone {report['paper_backbone']}" if "paper_backbone" in report else None,
        f"paper's code at commit {report['paper_commit']}" if report.get("paper_commit") else None,
    ]
    facts = [f for f in facts if f]
    if facts:
        lines += ["", "*" + "; ".join(facts) + ".*"]
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------- our side


class _Warmups:
    """Untimed warm-up episodes (or calls) before a measurement, the same rule on both sides: ``first`` before a
    row's first measurement, one before each later one."""

    def __init__(self, first: int) -> None:
        self.first, self.used = first, set()

    def __call__(self, key: str) -> int:
        seen = key in self.used
        self.used.add(key)
        return 1 if seen else self.first


def _ours(args) -> tuple[dict, dict]:
    """Our side: (facts, measurements), each measurement a function of no arguments returning one number. Models
    are built on first use and kept, so every later measurement of a row continues on the same warm model."""
    from hypermaml.memory import keep_freed_memory

    kept = keep_freed_memory()  # first: the library's documented start-up setting
    import dataclasses

    import torch

    import hypermaml as hm
    from benchmarks import speed

    torch.set_num_threads(args.threads)
    cpu = torch.device("cpu")
    models: dict[str, object] = {}
    warmup = _Warmups(args.warmup)

    def kept_model(key: str, build):
        if key not in models:
            torch.manual_seed(0)
            models[key] = build()
        return models[key]

    def train_rate(key: str, cfg, shot: int, episodes: int) -> float:
        model = kept_model(key, lambda: hm.build_model(cfg))
        sampler = speed.fake_sampler(shot)
        train = dataclasses.replace(speed.train_cfg(shot, episodes, cpu), meta_batch=1, episodes_per_epoch=episodes)
        hm.meta_train(model, sampler, dataclasses.replace(train, episodes_per_epoch=warmup(key)), progress=False)
        start = time.perf_counter()
        hm.meta_train(model, sampler, train, progress=False)
        return episodes / (time.perf_counter() - start)

    def adapt_ms(shot: int, score: bool) -> float:
        model = kept_model(f"adapt_{shot}", lambda: hm.build_model(speed.model_config("hypermaml", shot)).eval())
        e = speed.fake_sampler(shot).sample(torch.Generator().manual_seed(1))

        def adapt() -> None:
            with torch.no_grad():
                task = model.adapt(e.support_x, e.support_y)
                if score:
                    model.logits(e.query_x, task)

        return speed.median_ms(adapt, args.repeats, warmup(f"adapt_{shot}_{score}"))

    measures = {}
    for shot in SHOTS:
        maml = speed.model_config("maml", shot, train_steps=1, first_order=False)
        like_theirs = dataclasses.replace(maml, backbone=dataclasses.replace(maml.backbone, batch_norm="transductive"))
        rows = {
            f"train_hypermaml_{shot}shot": (speed.model_config("hypermaml", shot), args.episodes),
            f"train_maml2_{shot}shot": (maml, max(1, args.episodes // 2)),
            f"train_maml2_bn_{shot}shot": (like_theirs, max(1, args.episodes // 2)),
        }
        for key, (cfg, n) in rows.items():
            measures[key] = lambda key=key, cfg=cfg, n=n, shot=shot: train_rate(key, cfg, shot, n)
        measures[f"adapt_hypermaml_{shot}shot"] = lambda shot=shot: adapt_ms(shot, score=False)
        measures[f"adapt_score_hypermaml_{shot}shot"] = lambda shot=shot: adapt_ms(shot, score=True)
        measures[f"conv4_{shot}shot"] = lambda shot=shot: speed.conv4_fwd_bwd_episodes_per_s(
            shot, cpu, args.episodes, meta_batch=1
        )
    return {"keep_freed_memory": kept}, measures


# ---------------------------------------------------------------------------------------------- the paper's side


def _import_paper(path: Path):
    """Their modules, importable on a CPU-only machine with torch and numpy (see the module docstring)."""
    import importlib.util
    import types

    import torch

    torch.Tensor.cuda = lambda self, *args, **kwargs: self
    torch.nn.Module.cuda = lambda self, *args, **kwargs: self
    sys.path.insert(0, str(path))
    for name in ("methods", "methods.hypernets"):  # the packages, without their import-everything __init__.py
        package = types.ModuleType(name)
        package.__path__ = [str(path / name.replace(".", "/"))]
        sys.modules[name] = package
    sys.modules["methods"].hypernets = sys.modules["methods.hypernets"]
    sys.modules["methods.hypernets"].hypernet_types = dict.fromkeys(["hyper_shot", "hn_ppa", "hn_poc"])
    if importlib.util.find_spec("neptune") is None:  # their experiment logger, imported by io_utils only
        neptune, new = types.ModuleType("neptune"), types.ModuleType("neptune.new")
        new.Run = object
        neptune.new = new
        sys.modules.update({"neptune": neptune, "neptune.new": new})
    import backbone
    import io_utils
    from methods.hypernets.hypermaml import HyperMAML
    from methods.maml import MAML

    return backbone, io_utils, MAML, HyperMAML


def _paper(args) -> tuple[dict, dict]:
    """The paper's side: (facts, measurements), as ``_ours``."""
    import contextlib
    import io

    import torch

    torch.set_num_threads(args.threads)
    from benchmarks.speed import median_ms  # importing our library changes nothing here (keep_freed_memory is a call)

    backbone, io_utils, MAML, HyperMAML = _import_paper(Path(args.paper))
    parser = io_utils.create_parser("train")
    channels = 3 if args.paper_backbone == "Conv4" else 1
    model_func = getattr(backbone, args.paper_backbone)
    models: dict[str, tuple] = {}
    warmup = _Warmups(args.warmup)

    def build(key: str, cls, flags: list[str], shot: int):
        """Their model and params, built as their train.py builds them on first use, then kept."""
        if key in models:
            return models[key]
        params = parser.parse_args([*flags, "--n_shot", str(shot)])
        for block in (backbone.ConvBlock, backbone.SimpleBlock, backbone.BottleneckBlock, backbone.ResNet):
            block.maml = True  # as their train.py does for maml and hyper_maml
        torch.manual_seed(0)
        model = cls(model_func, params=params, approx=False, n_way=N_WAY, n_support=shot, n_query=N_QUERY)
        model.n_task = 1  # their train.py: 32 for cross_char
        model.task_update_num = 1  # their train.py for cross_char
        model.train_lr = 0.1  # their train.py for cross_char
        if cls is HyperMAML:  # after the MAML warm-up and the blend: the hypernetwork alone (p = 0)
            model.epoch = params.hm_maml_warmup_epochs + params.hm_maml_warmup_switch_epochs
            model.start_epoch, model.stop_epoch = 0, params.stop_epoch * 32
        models[key] = model, params
        return models[key]

    def episodes(shot: int, n: int) -> list:
        g = torch.Generator().manual_seed(shot)
        pool = [torch.rand(N_WAY, shot + N_QUERY, channels, 28, 28, generator=g) for _ in range(8)]
        return [(pool[i % len(pool)], None) for i in range(n)]

    def train_rate(key: str, cls, flags: list[str], shot: int, n: int) -> float:
        model, params = build(key, cls, flags, shot)
        model.train()
        optimizer = torch.optim.Adam(model.parameters(), lr=params.lr)  # their train.py
        epoch = getattr(model, "epoch", 0)
        with contextlib.redirect_stdout(io.StringIO()):  # their progress lines
            model.train_loop(epoch, episodes(shot, warmup(key)), optimizer)
            loader = episodes(shot, n)
            start = time.perf_counter()
            model.train_loop(epoch, loader, optimizer)
            return n / (time.perf_counter() - start)

    def adapt_ms(hyper_flags: list[str], shot: int, score: bool) -> float:
        model, _ = build(f"adapt_{shot}", HyperMAML, hyper_flags, shot)
        model.eval()
        model.single_test = True  # as their test.py sets it
        model.n_query = N_QUERY
        x = episodes(shot, 1)[0][0]
        support = x[:, :shot].contiguous().view(N_WAY * shot, *x.shape[2:])

        def adapt() -> None:  # set_forward up to the adapted classifier (the classifier's .fast weights)
            with torch.no_grad():
                labels = model.get_support_data_labels()
                embeddings = model.feature(support)
                deltas = model._get_list_of_delta_params(False, embeddings, labels)
                model._update_network_weights(deltas, embeddings, labels)

        def adapt_score() -> None:  # their evaluation's forward: the adapted classifier's query scores
            with torch.no_grad():
                model.set_forward(x)

        return median_ms(adapt_score if score else adapt, args.repeats, warmup(f"adapt_{shot}_{score}"))

    measures = {}
    for shot in SHOTS:
        hyper = PAPER_HYPERMAML_FLAGS + (["--hn_sup_aggregation", "mean"] if shot == 5 else [])
        rows = {
            f"train_hypermaml_{shot}shot": (HyperMAML, hyper, args.episodes),
            f"train_maml2_{shot}shot": (MAML, PAPER_MAML_FLAGS, max(1, args.episodes // 2)),
        }
        for key, (cls, flags, n) in rows.items():
            measures[key] = lambda key=key, cls=cls, flags=flags, n=n, shot=shot: train_rate(key, cls, flags, shot, n)
        measures[f"adapt_hypermaml_{shot}shot"] = lambda hyper=hyper, shot=shot: adapt_ms(hyper, shot, score=False)
        measures[f"adapt_score_hypermaml_{shot}shot"] = lambda hyper=hyper, shot=shot: adapt_ms(hyper, shot, score=True)
    return {"paper_backbone": args.paper_backbone, "input_channels": channels}, measures


def _child(args) -> None:
    """A side's worker: loads its side once, says so in one JSON line, then answers each measurement name read
    from stdin with one JSON line ``{"key": ..., "value": ...}`` until stdin closes. The answers go to the
    original stdout; everything else the side prints (their progress lines, warnings) goes to stderr."""
    answers = os.fdopen(os.dup(sys.stdout.fileno()), "w")
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    facts, measures = _ours(args) if args.child == "ours" else _paper(args)
    import torch

    facts.update(side=args.child, torch=torch.__version__, threads=torch.get_num_threads(), keys=sorted(measures))
    print(json.dumps(facts), file=answers, flush=True)
    for line in sys.stdin:
        key = line.strip()
        print(json.dumps({"key": key, "value": measures[key]()}), file=answers, flush=True)


# ---------------------------------------------------------------------------------------------- driver


def paper_problem(path: str | None) -> str | None:
    """Why ``path`` cannot be used as the paper's code (one line), or None."""
    if not path:
        return f"--paper PATH is required: a copy of the paper's code ({PAPER_REPO}; git clone it, commit {PAPER_COMMIT})"
    p = Path(path)
    if not p.is_dir():
        return f"--paper {path}: no such directory (expected a copy of {PAPER_REPO})"
    missing = [f for f in PAPER_FILES if not (p / f).is_file()]
    if missing:
        return f"--paper {path}: not a copy of {PAPER_REPO} (no {missing[-1]} there)"
    return None


def _paper_commit(path: Path) -> str | None:
    """The copy's commit when it is a git checkout of its own (not a folder inside another repository)."""
    cmd = ["git", "-C", str(path), "rev-parse", "--show-toplevel", "--short", "HEAD"]
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    lines = out.stdout.split()
    if out.returncode != 0 or len(lines) != 2 or Path(lines[0]).resolve() != path.resolve():
        return None
    return lines[1]


class _Worker:
    """One side's worker process (``--child``), asked for one measurement at a time."""

    def __init__(self, side: str, args) -> None:
        cmd = [sys.executable, "-m", "benchmarks.paper_code", "--child", side, "--paper", str(Path(args.paper).resolve())]
        for flag in ("threads", "episodes", "repeats", "warmup"):
            cmd += [f"--{flag}", str(getattr(args, flag))]
        cmd += ["--paper-backbone", args.paper_backbone]
        self.side, self.cmd = side, cmd
        self.log = tempfile.TemporaryFile(mode="w+")  # its stderr, shown if it fails
        self.proc = subprocess.Popen(cmd, cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.log, text=True)
        self.facts = self._answer()

    def _answer(self) -> dict:
        line = self.proc.stdout.readline()
        if not line:
            self.log.seek(0)
            sys.stderr.write(self.log.read()[-4000:])
            status = self.proc.wait()
            raise SystemExit(f"error: the {self.side} side's process failed (exit status {status}): {' '.join(self.cmd)}")
        return json.loads(line)

    def measure(self, key: str) -> float:
        self.proc.stdin.write(key + "\n")
        self.proc.stdin.flush()
        return self._answer()["value"]

    def close(self) -> None:
        self.proc.stdin.close()
        self.proc.wait()
        self.log.close()


def schedule(shot: int) -> list[tuple[str, tuple[str, ...]]]:
    """One round's measurements for ``shot``, in order: (key, the sides that measure it). A row measured by
    both sides is a pair, its two measurements back to back; our rows without a counterpart come right after
    the pair they are compared with (our bare Conv4 after HyperMAML training; ours with the paper's batch norm
    after the MAML pair, whose paper side it is compared with)."""
    both, ours = ("ours", "paper"), ("ours",)
    return [
        (f"train_hypermaml_{shot}shot", both),
        (f"conv4_{shot}shot", ours),
        (f"train_maml2_{shot}shot", both),
        (f"train_maml2_bn_{shot}shot", ours),
        (f"adapt_hypermaml_{shot}shot", both),
        (f"adapt_score_hypermaml_{shot}shot", both),
    ]


def paired_ratios(rounds: dict[str, list[dict]]) -> dict[str, float]:
    """Per row, the median over rounds of that round's ratio (``ratios`` of the two sides' values in the same
    round): each ratio compares measurements taken seconds apart, so a machine whose speed drifts over minutes
    (these shared CPUs) moves both sides of it alike."""
    per_round = [ratios({"ours": o, "paper": p}) for o, p in zip(rounds["ours"], rounds["paper"])]
    return {k: statistics.median(r[k] for r in per_round) for k in per_round[0]}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--paper", metavar="PATH", default=None, help=f"a copy of {PAPER_REPO} (required)")
    parser.add_argument(
        "--rounds", type=int, default=None, help="rounds, each row measured once per side per round (default 20; --quick 4)"
    )
    parser.add_argument("--threads", type=int, default=2, help="torch threads on both sides (default 2)")
    parser.add_argument("--quick", action="store_true", help="4 rounds, to try it out")
    parser.add_argument("--episodes", type=int, default=None, help="HyperMAML training episodes per measurement (MAML: half)")
    parser.add_argument("--repeats", type=int, default=None, help="adaptation calls per measurement (the median is kept)")
    parser.add_argument(
        "--warmup",
        type=int,
        default=3,
        help="untimed warm-up episodes (or calls) before the first measurement of a row; later ones warm up with one",
    )
    parser.add_argument(
        "--paper-backbone",
        choices=["Conv4S", "Conv4"],
        default="Conv4S",
        help="their Conv4S (one input channel, as ours; default) or Conv4 (3 channels, as their cross_char runs)",
    )
    parser.add_argument("--json", metavar="FILE", default=None, help="also store the report in FILE")
    parser.add_argument(
        "--save", action="store_true", help="store the report as docs/paper_code.json and write its table on docs/speed.md"
    )
    parser.add_argument("--child", choices=["ours", "paper"], default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    problem = paper_problem(args.paper)
    if problem:
        print(f"error: {problem}", file=sys.stderr)
        raise SystemExit(2)
    args.rounds = args.rounds or (4 if args.quick else 20)
    args.episodes = args.episodes or 8
    args.repeats = args.repeats or 10
    if args.child:
        _child(args)
        return

    started, load_before = time.perf_counter(), os.getloadavg()
    workers = {side: _Worker(side, args) for side in ("ours", "paper")}
    runs: dict[str, list[dict]] = {"ours": [], "paper": []}
    pairs = 0
    for r in range(args.rounds):
        round_started = time.perf_counter()
        values: dict[str, dict] = {"ours": {}, "paper": {}}
        for shot in SHOTS:
            for key, sides in schedule(shot):
                if len(sides) == 2 and pairs % 2:  # who goes first alternates from pair to pair
                    sides = sides[::-1]
                pairs += len(sides) == 2
                for side in sides:
                    values[side][key] = workers[side].measure(key)
            values["paper"][f"train_maml2_bn_{shot}shot"] = values["paper"][f"train_maml2_{shot}shot"]  # their MAML's BN
        for side in runs:
            runs[side].append(values[side])
            shown = {k: round(v, 2) for k, v in values[side].items()}
            print(f"round {r + 1}/{args.rounds}, {side}: {json.dumps(shown)}", flush=True)
        print(f"round {r + 1}/{args.rounds} took {time.perf_counter() - round_started:.0f} s", flush=True)
    for worker in workers.values():
        worker.close()
    median = {side: {k: round(statistics.median(run[k] for run in runs[side]), 3) for k in runs[side][0]} for side in runs}
    paired = {k: round(v, 3) for k, v in paired_ratios(runs).items()}
    report = {
        "benchmark": "paper_code",
        "paper": str(Path(args.paper).resolve()),
        "paper_commit": _paper_commit(Path(args.paper)),
        "paper_backbone": args.paper_backbone,
        "workload": f"Conv4, 28x28x1, {N_WAY}-way, {N_QUERY} queries/class, 1 episode per optimiser step",
        "rounds": args.rounds,
        "episodes": args.episodes,
        "maml_episodes": max(1, args.episodes // 2),
        "repeats": args.repeats,
        "warmup": args.warmup,
        "quick": args.quick,
        "threads": args.threads,
        "torch": workers["ours"].facts["torch"],
        "cpu": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "keep_freed_memory": workers["ours"].facts["keep_freed_memory"],
        "median": median,
        "paired": True,
        "ratios": paired,
        "goals": goals(paired),
        "rounds_raw": {side: [{k: round(v, 3) for k, v in run.items()} for run in runs[side]] for side in runs},
        "load_average": {"before": [round(x, 2) for x in load_before], "after": [round(x, 2) for x in os.getloadavg()]},
        "seconds": round(time.perf_counter() - started, 1),
    }
    print()
    print(markdown(report))
    print()
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2) + "\n")
    if args.save:
        from benchmarks.readme import save_report

        save_report("paper_code", report, markdown(report), SAVE_COMMAND)
    print(json.dumps(report))


if __name__ == "__main__":
    main()
