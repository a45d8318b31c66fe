"""The studio's heavy computations: the toy page's panels and many-task runs, Real episodes' results, and the
models and datasets they use, loaded once per process.

Each is a module-level function of plain, picklable arguments (a dataset name, a seed, arrays) so that
``app.workers.run`` can send it to a worker process; called directly, it computes in the calling thread.
Both give the same numbers: the workers run one torch thread, like ``./run_app.sh``'s server.
"""

from __future__ import annotations

import functools
import threading
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

import hypermaml as hm
from app.user_task import counted

PRETRAINED = Path(__file__).resolve().parents[1] / "pretrained"
TOY_METHODS = ("hypermaml", "maml", "protonet")
MAML_STEPS = range(0, 6)  # toy panels: MAML after 0..5 steps
N_WAY, N_QUERY, MAX_STEPS = 5, 3, 10  # real episodes


# ---- what a worker (or the server, without workers) keeps loaded -----------------------------------------


@functools.cache
def toy_models() -> dict[str, hm.FewShotModel]:
    """The committed toy checkpoints."""
    return {name: hm.load(PRETRAINED / f"toy_{name}.pt") for name in TOY_METHODS}


@functools.cache
def benchmark_models(n_shot: int, benchmark: str = "omniglot_emnist", transductive: bool = False) -> dict[str, hm.FewShotModel]:
    """Committed checkpoints of ``benchmark`` for ``n_shot`` (whichever exist). The default ones are
    batch-independent; ``transductive=True`` gives the transductive models of the same rows (the first stage of
    the fine-tuned ones), for comparison."""
    folder = PRETRAINED / "transductive" if transductive else PRETRAINED
    found = {}
    for method in TOY_METHODS:
        path = folder / f"{benchmark}_{method}_{n_shot}shot.pt"
        if path.is_file():
            found[method] = hm.load(path)
    return found


_dataset_lock = threading.Lock()


@functools.lru_cache(maxsize=3)
def _dataset(name: str):
    from hypermaml.data.byte_images import cached_split

    # EMNIST: bytes mapped from a cache file, one copy for every process; the same floats when sampled
    return cached_split(name)


def dataset(name: str):
    """A real split (loaded once; at most three kept). Its ``x`` may be :class:`~hypermaml.data.byte_images.ByteImages`:
    index it (as an episode sampler does) for float images."""
    with _dataset_lock:  # two first visitors of one split load it once
        return _dataset(name)


# ---- the toy page --------------------------------------------------------------------------------------

CHANCE_TOY = 0.5  # two classes
TOY_QUERY = 50  # query points per class of a toy task on the page


def maml_title(k: int) -> str:
    return "MAML: 0 steps (θ)" if k == 0 else f"MAML: {counted(k, 'step')}"


def toy_panels(
    models: dict[str, hm.FewShotModel],
    sx: np.ndarray,
    sy: np.ndarray,
    qx: np.ndarray,
    qy: np.ndarray,
    xlim: tuple[float, float],
    ylim: tuple[float, float],
    shown: tuple[int, ...] = tuple(MAML_STEPS),
    width: int = 660,
    alpha_width: int = 390,
) -> tuple:
    """Every panel of one toy task (adapt, time, score, grid): HyperMAML, MAML after 0..5 steps, ProtoNet; the
    picture of HyperMAML, MAML after the ``shown`` steps and ProtoNet laid out for ``width`` CSS pixels;
    HyperMAML's update as a table; and the picture of θ + α·Δθ at α = 1 (what the page shows first). Plain
    values only: torch tensors would travel between processes as shared-memory handles, one socket round trip
    each."""
    from app.toy_plots import adapt_timed, alpha_png, delta_table, make_panel, panels_png

    ep = hm.Episode(*(torch.from_numpy(a) for a in (sx, sy, qx, qy)))
    hyper, maml, proto = models["hypermaml"], models["maml"], models["protonet"]
    hyper_task, hyper_ms = adapt_timed(hyper, ep)
    out = [make_panel("HyperMAML: 1 update", hyper, hyper_task, ep, hyper_ms, xlim, ylim)]
    for k in MAML_STEPS:
        task, ms = adapt_timed(maml, ep, steps=k)
        out.append(make_panel(maml_title(k), maml, task, ep, ms, xlim, ylim))
    proto_task, proto_ms = adapt_timed(proto, ep)
    out.append(make_panel("ProtoNet: class means", proto, proto_task, ep, proto_ms, xlim, ylim))
    picture = panels_png(chosen(out, shown), ep, width=width)
    return out, delta_table(hyper_task), picture, alpha_png(hyper, hyper_task, ep, 1.0, xlim, ylim, alpha_width)


def chosen(panels: list, shown: tuple[int, ...]) -> list:
    """HyperMAML's panel, MAML's after the ``shown`` steps, ProtoNet's (``panels`` as :func:`toy_panels` makes)."""
    return [panels[0], *(panels[1 + k] for k in sorted(shown)), panels[-1]]


def bundled_toy_panels(sx, sy, qx, qy, xlim, ylim, shown=tuple(MAML_STEPS), width=660, alpha_width=390) -> tuple:
    """:func:`toy_panels` with the bundled toy models (what a worker can compute: it loads them itself)."""
    return toy_panels(toy_models(), sx, sy, qx, qy, xlim, ylim, shown, width, alpha_width)


def toy_step_pictures(models, sx, sy, qx, qy, xlim, ylim, width: int = 660) -> list[bytes]:
    """For MAML's step-through: HyperMAML's one update beside MAML after k = 0..5 steps, one picture per k."""
    from app.toy_plots import make_panel, panels_png

    ep = hm.Episode(*(torch.from_numpy(a) for a in (sx, sy, qx, qy)))
    hyper, maml = models["hypermaml"], models["maml"]
    with torch.no_grad():
        first = make_panel("HyperMAML: 1 update", hyper, hyper.adapt(ep.support_x, ep.support_y), ep, 0.0, xlim, ylim)
        trajectory = maml.adapt_trajectory(ep.support_x, ep.support_y, steps=max(MAML_STEPS))
    pictures = []
    for k, task in enumerate(trajectory):
        panel = make_panel(maml_title(k), maml, task, ep, 0.0, xlim, ylim)
        note = f"{100 * panel.accuracy:.0f}% correct"
        pictures.append(
            panels_png([replace(first, note=f"{100 * first.accuracy:.0f}% correct"), replace(panel, note=note)], ep, 2, width)
        )
    return pictures


def bundled_toy_step_pictures(sx, sy, qx, qy, xlim, ylim, width=660) -> list[bytes]:
    return toy_step_pictures(toy_models(), sx, sy, qx, qy, xlim, ylim, width)


def toy_svg(models, sx, sy, qx, qy, xlim, ylim, shown=tuple(MAML_STEPS), width=660, with_proto=True) -> bytes:
    """The panels' picture as SVG (a download: drawn anew as vector graphics); ``with_proto=False``: HyperMAML and
    MAML only, as the step-through shows them."""
    from app.toy_plots import make_panel, panels_png

    ep = hm.Episode(*(torch.from_numpy(a) for a in (sx, sy, qx, qy)))
    hyper, maml, proto = models["hypermaml"], models["maml"], models["protonet"]
    with torch.no_grad():
        panels = [make_panel("HyperMAML: 1 update", hyper, hyper.adapt(ep.support_x, ep.support_y), ep, 0.0, xlim, ylim)]
        trajectory = maml.adapt_trajectory(ep.support_x, ep.support_y, steps=max(MAML_STEPS))
        panels += [make_panel(maml_title(k), maml, t, ep, 0.0, xlim, ylim) for k, t in enumerate(trajectory)]
        panels.append(make_panel("ProtoNet: class means", proto, proto.adapt(ep.support_x, ep.support_y), ep, 0.0, xlim, ylim))
    panels = [replace(p, note=f"{100 * p.accuracy:.0f}% correct") for p in panels]  # times belong to this machine
    panels = chosen(panels, shown) if with_proto else chosen(panels, shown)[:-1]
    return panels_png(panels, ep, columns=4 if with_proto else 2, width=width, fmt="svg")


def bundled_toy_svg(sx, sy, qx, qy, xlim, ylim, shown=tuple(MAML_STEPS), width=660, with_proto=True) -> bytes:
    return toy_svg(toy_models(), sx, sy, qx, qy, xlim, ylim, shown, width, with_proto)


def toy_alpha(model: hm.HyperMAML, sx, sy, qx, qy, xlim, ylim, alpha: float, width: int = 390, fmt: str = "png") -> bytes:
    """The picture of θ + α·Δθ for one toy task."""
    from app.toy_plots import alpha_panel, panels_png

    episode = hm.Episode(*(torch.from_numpy(a) for a in (sx, sy, qx, qy)))
    with torch.no_grad():
        task = model.adapt(episode.support_x, episode.support_y)
    return panels_png([alpha_panel(model, task, episode, alpha, xlim, ylim)], episode, 1, width, fmt)


def bundled_toy_alpha(sx, sy, qx, qy, xlim, ylim, alpha: float, width: int = 390, fmt: str = "png") -> bytes:
    return toy_alpha(toy_models()["hypermaml"], sx, sy, qx, qy, xlim, ylim, alpha, width, fmt)


def toy_task(task_type: int | None, n_shot: int, seed: int, shift=(0.0, 0.0), rotation: float = 0.0, spread: float = 1.0):
    """The toy page's task for ``seed``: of type ``TASK_TYPES[task_type]``, or of a type the seed draws (None)."""
    from toy.tasks import TASK_TYPES, sample_task

    generator = torch.Generator().manual_seed(int(seed))
    if task_type is None:
        task_type = int(torch.randint(len(TASK_TYPES), (1,), generator=generator))
    pair, swapped = TASK_TYPES[task_type]
    return sample_task(pair, swapped, n_shot, TOY_QUERY, generator, shift=tuple(shift), rotation_deg=rotation, spread=spread)


def toy_many(models, task_type, n_shot, shift, rotation, spread, n_tasks: int) -> dict:
    """Every method's query accuracy on the page's tasks of seeds 0..n_tasks-1 (the same settings, so the page's
    own task is one of them when its seed is below ``n_tasks``).

    Returns:
        ``{"labels": [...], "accuracies": (n_methods, n_tasks) array, "one_class": (n_tasks,) bool}``: rows in
        the order of the panels (HyperMAML, MAML after 0..5 steps, ProtoNet); ``one_class``: MAML after one step
        put every query in the same class.
    """
    hyper, maml, proto = models["hypermaml"], models["maml"], models["protonet"]
    rows = np.empty((2 + len(MAML_STEPS), n_tasks))
    one_class = np.zeros(n_tasks, bool)
    for i in range(n_tasks):
        ep = toy_task(task_type, n_shot, i, shift, rotation, spread)
        with torch.no_grad():
            scores = [hyper.logits(ep.query_x, hyper.adapt(ep.support_x, ep.support_y))]
            trajectory = maml.adapt_trajectory(ep.support_x, ep.support_y, steps=max(MAML_STEPS))
            scores += [maml.logits(ep.query_x, t) for t in trajectory]
            scores.append(proto.logits(ep.query_x, proto.adapt(ep.support_x, ep.support_y)))
        predicted = torch.stack([s.argmax(-1) for s in scores])
        rows[:, i] = (predicted == ep.query_y).double().mean(1).numpy()
        one_class[i] = bool((predicted[2] == predicted[2, 0]).all())
    labels = ["HyperMAML, 1 update", *(maml_title(k).replace(":", ",") for k in MAML_STEPS), "ProtoNet"]
    return {"labels": labels, "accuracies": rows, "one_class": one_class}


def bundled_toy_many(task_type, n_shot, shift, rotation, spread, n_tasks: int) -> dict:
    return toy_many(toy_models(), task_type, n_shot, shift, rotation, spread, n_tasks)


def pct(mean: float, half: float) -> str:
    """ "87 ± 1%", "53 ± 0.4%": a mean accuracy and its 95% half-interval (fractions), as the pages write them."""
    return f"{100 * mean:.0f} ± {100 * half:.{0 if 100 * half >= 0.95 else 1}f}%"


def mean_ci(accuracies) -> tuple[float, float]:
    """Mean and half-width of the 95% interval (as ``hm.evaluate`` reports them)."""
    result = hm.EvalResult.from_accuracies(np.asarray(accuracies))
    return result.mean, result.ci95


# Sentences that say who copes are computed from the numbers beside them (DESIGN.md, principle 12): these rules,
# stated in the sentence itself, sort each method by its mean over many tasks.
COPES_SHARE = 0.6  # copes: at least 60% of the way from chance to perfect (toy 80%, 5-way 68%)
NEAR_CHANCE = 0.10  # near chance: less than 10 points above it


def thresholds(chance: float) -> tuple[int, int]:
    """The whole percentages that bound "near chance" and "copes" (toy: 60 and 80; five ways: 30 and 68)."""
    return round(100 * (chance + NEAR_CHANCE)), round(100 * (chance + COPES_SHARE * (1 - chance)))


def standing(mean: float, chance: float) -> str:
    """ "copes", "near chance" or "in between", for a mean accuracy (fractions). The mean is judged as the page
    writes it (a whole percentage, :func:`pct`): 59.6% is shown as 60% and is not "below 60%"."""
    shown = int(f"{100 * mean:.0f}")
    near, good = thresholds(chance)
    if shown >= good:
        return "copes"
    if shown < near:
        return "near chance"
    return "in between"


def verdict(results: dict[str, tuple[float, float]], chance: float, n: int, what: str = "tasks") -> str:
    """One sentence sorting the methods by :func:`standing`, with their numbers: ``results`` maps a label to
    (mean, half 95% interval), fractions."""
    groups: dict[str, list[str]] = {"copes": [], "in between": [], "near chance": []}
    for label, (mean, half) in results.items():
        groups[standing(mean, chance)].append(f"{label} {pct(mean, half)}")
    near, good = thresholds(chance)
    parts = []
    if groups["copes"]:
        parts.append(f"**copes** (mean at least {good}%): " + ", ".join(groups["copes"]))
    if groups["in between"]:
        parts.append(f"**in between** ({near}–{good - 1}%): " + ", ".join(groups["in between"]))
    if groups["near chance"]:
        parts.append(f"**near chance** (below {near}%, chance is {100 * chance:.0f}%): " + ", ".join(groups["near chance"]))
    return f"Over these {n} {what}: " + "; ".join(parts) + "."


# ---- real episodes -------------------------------------------------------------------------------------

CHANCE_WAY = 1 / N_WAY  # guessing among five classes


def readable(name: str, short: bool = False) -> str:
    """A class name as people read it. Omniglot "Old_Church_Slavonic_(Cyrillic)/character40/rot180" -> "Old
    Church Slavonic (Cyrillic), character 40, rotated 180°" (``short``: "Old Church Slavonic 40 ↻180°");
    EMNIST's "B" -> "capital B", "b" -> "small b", "7" -> "digit 7"."""
    import re

    parts = name.split("/")
    if len(parts) >= 2 and parts[1].startswith("character"):
        alphabet = parts[0].replace("_", " ")
        number = parts[1][len("character") :].lstrip("0") or "0"
        turn = int(parts[2][3:]) if len(parts) > 2 and parts[2].startswith("rot") else 0
        if short:
            return f"{re.sub(r' [(].*[)]', '', alphabet)} {number}" + (f" ↻{turn}°" if turn else "")
        return f"{alphabet}, character {number}" + (f", rotated {turn}°" if turn else "")
    if len(name) == 1:
        return f"digit {name}" if name.isdigit() else f"capital {name}" if name.isupper() else f"small {name}"
    return name.replace("_", " ")


def sample_episode(name: str, n_shot: int, seed: int) -> tuple[hm.Episode, list[int]]:
    data = dataset(name)
    sampler = hm.EpisodeSampler(data.x, data.y, N_WAY, n_shot, N_QUERY, data.class_names)
    return sampler.sample_with_classes(torch.Generator().manual_seed(seed))


def _picture(x: torch.Tensor) -> bytes:
    """One image as PNG bytes, encoded once here rather than by Streamlit on every rerun."""
    import io

    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray((x[0].clamp(0, 1).numpy() * 255).astype(np.uint8)).save(buffer, format="png")
    return buffer.getvalue()


def accuracy(probs, y) -> float:
    """The share of rows whose largest probability is at the true label (tensors or arrays)."""
    return float((np.asarray(probs).argmax(-1) == np.asarray(y)).mean())


def episode_results(name: str, n_shot: int, seed: int, benchmark: str) -> dict:
    """Everything Real episodes shows for one episode: the images (PNG), the class names and each method's
    probabilities (MAML's at every step 0..MAX_STEPS, from one inner loop), as numpy arrays."""
    models = benchmark_models(n_shot, benchmark)
    episode, class_ids = sample_episode(name, n_shot, seed)
    out: dict = {
        "names": [dataset(name).class_names[c] for c in class_ids],  # labels 0..4 are given to classes at random
        "support": [_picture(x) for x in episode.support_x],
        "support_y": episode.support_y.tolist(),
        "query": [_picture(x) for x in episode.query_x],
        "query_y": episode.query_y.numpy(),
        "probs": {},
        "maml_steps": [],
    }
    for method, model in models.items():
        if method == "maml":
            with torch.no_grad():  # no graph through the inner loop: the page only reads the predictions
                trajectory = model.adapt_trajectory(episode.support_x, episode.support_y, steps=MAX_STEPS)
                out["maml_steps"] = [model.predict_proba(episode.query_x, task).numpy() for task in trajectory]
        else:
            with torch.no_grad():
                out["probs"][method] = model.predict_proba(
                    episode.query_x, model.adapt(episode.support_x, episode.support_y)
                ).numpy()
    return out


def episode_accuracies(name: str, n_shot: int, benchmark: str, first: int, count: int) -> dict[str, np.ndarray]:
    """Each method's query accuracy on the episodes of seeds first..first+count-1 (the page's episodes, the
    queries one at a time as there): ``{"hypermaml": (count,), "protonet": (count,), "maml": (count,
    MAX_STEPS + 1)}`` (MAML after every step count, from one inner loop per episode)."""
    models = benchmark_models(n_shot, benchmark)
    out: dict[str, list] = {method: [] for method in models}
    for seed in range(first, first + count):
        episode, _ = sample_episode(name, n_shot, seed)
        y = episode.query_y.numpy()
        for method, model in models.items():
            with torch.no_grad():
                if method == "maml":
                    trajectory = model.adapt_trajectory(episode.support_x, episode.support_y, steps=MAX_STEPS)
                    out[method].append([accuracy(model.logits(episode.query_x, t), y) for t in trajectory])
                else:
                    task = model.adapt(episode.support_x, episode.support_y)
                    out[method].append(accuracy(model.logits(episode.query_x, task), y))
    return {method: np.asarray(v) for method, v in out.items()}


def episode_picture(result: dict, probs: dict, names: list[str], title: str, fmt: str = "png") -> bytes:
    """One episode, as the page shows it, in one picture (a download)."""
    from app.figures import episode_sheet

    return episode_sheet(result, probs, names, title, fmt)


def transductive_results(name: str, n_shot: int, seed: int, benchmark: str) -> dict[str, tuple[float, float]]:
    """The transductive models' accuracy on one episode with its queries together and one at a time."""
    episode, _ = sample_episode(name, n_shot, seed)
    out = {}
    for method, model in benchmark_models(n_shot, benchmark, transductive=True).items():
        with torch.no_grad():
            task = model.adapt(episode.support_x, episode.support_y)
            together = model.logits(episode.query_x, task)
            alone = torch.cat([model.logits(x[None], task) for x in episode.query_x])
        out[method] = (accuracy(together, episode.query_y), accuracy(alone, episode.query_y))
    return out
