"""The studio's heavy computations, run in worker processes so that visitors use every core.

Streamlit serves every visitor from one Python process. Adapting models to a new task and drawing its
panels is mostly Python (small tensors, matplotlib), so in one process it runs on one core at a time, under
the interpreter lock, however many cores the server has: in a full lecture hall, visitors asking for new
tasks queue behind each other. :func:`run` sends such a computation to a pool of worker processes
(``HYPERMAML_STUDIO_WORKERS``; ``./run_app.sh`` starts one per core) and waits for it without holding the
lock, so the server's cores work on several visitors' tasks at once while Streamlit keeps answering.

Everything sent to a worker is named by plain values (a checkpoint path, a dataset name, a seed, arrays), and
each worker loads the bundled models and datasets once. With no workers (the default outside
``./run_app.sh``, e.g. in tests and ``streamlit run`` by hand) the same functions run in the calling thread.
Both give the same numbers: the workers run one torch thread, like ``./run_app.sh``'s server.
"""

from __future__ import annotations

import functools
import multiprocessing
import os
import threading
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import Any

import numpy as np
import torch

import hypermaml as hm

PRETRAINED = Path(__file__).resolve().parents[1] / "pretrained"
TOY_METHODS = ("hypermaml", "maml", "protonet")
MAML_STEPS = range(0, 6)  # toy panels: MAML after 0..5 steps
N_WAY, N_QUERY, MAX_STEPS = 5, 3, 10  # real episodes


def workers() -> int:
    """How many worker processes the studio uses (``HYPERMAML_STUDIO_WORKERS``; 0: compute in-process)."""
    try:
        return max(0, int(os.environ.get("HYPERMAML_STUDIO_WORKERS", "0")))
    except ValueError:
        return 0


class Workers:
    """``n`` worker processes, each its own single-process executor: a call goes to the least busy one.

    (One executor with ``n`` processes would start its second process only when no process is idle *as it
    counts them*, which after a few calls means never: the server would use one core.)
    """

    def __init__(self, n: int) -> None:
        context = multiprocessing.get_context("spawn")  # a fresh interpreter, never a fork of a threaded server
        self._new = lambda: ProcessPoolExecutor(1, mp_context=context, initializer=_init_worker)
        self._executors = [self._new() for _ in range(n)]
        self._busy = [0] * n
        self._lock = threading.Lock()

    def call(self, fn: Callable[..., Any], *args: Any) -> Any:
        with self._lock:
            i = min(range(len(self._busy)), key=self._busy.__getitem__)
            self._busy[i] += 1
            executor = self._executors[i]
        try:
            return executor.submit(fn, *args).result()
        except BrokenProcessPool:  # its process died (killed, out of memory): replace it, answer here
            with self._lock:
                if self._executors[i] is executor:
                    self._executors[i] = self._new()
            return fn(*args)
        finally:
            with self._lock:
                self._busy[i] -= 1

    def start(self) -> None:
        """Start every process now (each loads the toy models), without waiting for them."""
        for executor in self._executors:
            executor.submit(_warm)

    def shutdown(self) -> None:
        for executor in self._executors:
            executor.shutdown(cancel_futures=True)


_workers: Workers | None = None
_workers_lock = threading.Lock()


def _init_worker() -> None:
    from hypermaml.memory import keep_freed_memory

    # Threads: a worker inherits OMP_NUM_THREADS from ./run_app.sh, set once for the whole server at start-up.
    keep_freed_memory()


def _pool() -> Workers | None:
    global _workers
    n = workers()
    if n == 0:
        return None
    with _workers_lock:
        if _workers is None:
            _workers = Workers(n)
        return _workers


def run(fn: Callable[..., Any], *args: Any) -> Any:
    """``fn(*args)`` in a worker process if the studio has workers, else here. ``fn`` must be a module-level
    function of this package and its arguments plain, picklable values. A worker that died is replaced, and
    the call it was serving is computed here."""
    pool = _pool()
    return fn(*args) if pool is None else pool.call(fn, *args)


def warm_up() -> None:
    """Start the workers and load what every page needs, in the background (first visitors do not wait for
    a worker to import torch). Does nothing without workers."""
    pool = _pool()
    if pool is not None:
        pool.start()


def _warm() -> None:
    """A worker's first job: what the toy page and the first Real episode need."""
    toy_models()
    import matplotlib.backends.backend_agg  # noqa: F401

    try:
        dataset("emnist-test")  # Real episodes' default images (a few seconds; skipped without the data)
        benchmark_models(1)
    except FileNotFoundError:
        pass


# ---- what a worker (or the server, without workers) keeps loaded -----------------------------------------


@functools.cache
def toy_models() -> dict[str, hm.FewShotModel]:
    """The committed toy checkpoints."""
    return {name: hm.load(PRETRAINED / f"toy_{name}.pt") for name in TOY_METHODS}


@functools.cache
def benchmark_models(n_shot: int, benchmark: str = "omniglot_emnist", transductive: bool = False) -> dict[str, hm.FewShotModel]:
    """Committed checkpoints of ``benchmark`` for ``n_shot`` (whichever exist). The default ones are
    batch-independent; ``transductive=True`` gives the models they were fine-tuned from, for comparison."""
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
    from hypermaml.data import load_split

    return load_split(name)


def dataset(name: str):
    """A real split (loaded once; at most three kept)."""
    with _dataset_lock:  # two first visitors of one split load it once
        return _dataset(name)


# ---- the toy page --------------------------------------------------------------------------------------


def toy_panels(
    models: dict[str, hm.FewShotModel],
    sx: np.ndarray,
    sy: np.ndarray,
    qx: np.ndarray,
    qy: np.ndarray,
    xlim: tuple[float, float],
    ylim: tuple[float, float],
) -> tuple:
    """Every panel of one toy task (adapt, time, score, grid), their picture, HyperMAML's update as a table,
    and the picture of θ + α·Δθ at α = 1 (what the page shows first). Plain values only: torch tensors would
    travel between processes as shared-memory handles, one socket round trip each."""
    from app.toy_plots import adapt_timed, alpha_png, delta_table, make_panel, panels_png

    ep = hm.Episode(*(torch.from_numpy(a) for a in (sx, sy, qx, qy)))
    hyper, maml, proto = models["hypermaml"], models["maml"], models["protonet"]
    hyper_task, hyper_ms = adapt_timed(hyper, ep)
    out = [make_panel("HyperMAML: 1 update", hyper, hyper_task, ep, hyper_ms, xlim, ylim)]
    for k in MAML_STEPS:
        task, ms = adapt_timed(maml, ep, steps=k)
        title = "MAML: 0 steps (θ)" if k == 0 else f"MAML: {k} step{'s' if k > 1 else ''}"
        out.append(make_panel(title, maml, task, ep, ms, xlim, ylim))
    proto_task, proto_ms = adapt_timed(proto, ep)
    out.append(make_panel("ProtoNet: class means", proto, proto_task, ep, proto_ms, xlim, ylim))
    return out, delta_table(hyper_task), panels_png(out, ep), alpha_png(hyper, hyper_task, ep, 1.0, xlim, ylim)


def bundled_toy_panels(sx, sy, qx, qy, xlim, ylim) -> tuple:
    """:func:`toy_panels` with the bundled toy models (what a worker can compute: it loads them itself)."""
    return toy_panels(toy_models(), sx, sy, qx, qy, xlim, ylim)


def toy_alpha(model: hm.HyperMAML, sx, sy, qx, qy, xlim, ylim, alpha: float) -> bytes:
    """The picture of θ + α·Δθ for one toy task."""
    from app.toy_plots import alpha_png

    episode = hm.Episode(*(torch.from_numpy(a) for a in (sx, sy, qx, qy)))
    with torch.no_grad():
        task = model.adapt(episode.support_x, episode.support_y)
    return alpha_png(model, task, episode, alpha, xlim, ylim)


def bundled_toy_alpha(sx, sy, qx, qy, xlim, ylim, alpha: float) -> bytes:
    return toy_alpha(toy_models()["hypermaml"], sx, sy, qx, qy, xlim, ylim, alpha)


# ---- real episodes -------------------------------------------------------------------------------------


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
