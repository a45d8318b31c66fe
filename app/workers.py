"""The studio's worker processes, so that visitors use every core.

Streamlit serves every visitor from one Python process. Adapting models to a new task and drawing its
panels is mostly Python (small tensors, matplotlib), so in one process it runs on one core at a time, under
the interpreter lock, however many cores the server has: in a full lecture hall, visitors asking for new
tasks queue behind each other. :func:`run` sends such a computation (a function of ``app.compute``) to a pool
of worker processes (``HYPERMAML_STUDIO_WORKERS``; ``./run_app.sh`` starts one per core) and waits for it
without holding the lock, so the server's cores work on several visitors' tasks at once while Streamlit keeps
answering. With no workers (the default outside ``./run_app.sh``, e.g. in tests and ``streamlit run`` by
hand) the same functions run in the calling thread.

The workers are forked from a fork server that imported torch and loaded the toy models once
(``app.worker_preload``, :func:`preload`), so they share those pages; each then loads the benchmark models and
maps the default images itself (:func:`_warm`).
"""

from __future__ import annotations

import multiprocessing
import os
import threading
from collections.abc import Callable
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any

from app import compute
from hypermaml.memory import keep_freed_memory


def count() -> int:
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
        # Never a fork of the threaded server: a fork server, a fresh single-threaded interpreter that imports
        # torch and loads the models and EMNIST once (app.worker_preload), forks every worker from itself. The
        # workers only read what it loaded, so those pages stay shared: one copy for all of them, not one each.
        if "forkserver" in multiprocessing.get_all_start_methods():
            context = multiprocessing.get_context("forkserver")
            context.set_forkserver_preload(["app.worker_preload"])
        else:  # Windows: a fresh interpreter per worker, each loading what it needs
            context = multiprocessing.get_context("spawn")
        self._new = lambda: ProcessPoolExecutor(1, mp_context=context, initializer=_init_worker)
        self._executors = [self._new() for _ in range(n)]
        self._busy = [0] * n
        self._warming: list[Future | None] = [None] * n  # each process's warm-up, while it runs
        self._lock = threading.Lock()

    def warming(self) -> bool:
        """Whether every worker is still starting (importing torch, loading models and data)."""
        with self._lock:
            return all(f is not None and not f.done() for f in self._warming)

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
                    self._warming[i] = None
            return fn(*args)
        finally:
            with self._lock:
                self._busy[i] -= 1

    def start(self) -> None:
        """Start every process now (each loads the toy models), without waiting for them."""
        with self._lock:
            self._warming = [executor.submit(_warm) for executor in self._executors]

    def shutdown(self) -> None:
        for executor in self._executors:
            executor.shutdown(cancel_futures=True)


_workers: Workers | None = None
_workers_lock = threading.Lock()


def _init_worker() -> None:
    # Threads: a worker inherits OMP_NUM_THREADS from ./run_app.sh, set once for the whole server at start-up.
    keep_freed_memory()


def _pool() -> Workers | None:
    global _workers
    n = count()
    if n == 0:
        return None
    with _workers_lock:
        if _workers is None:
            _workers = Workers(n)
        return _workers


def run(fn: Callable[..., Any], *args: Any, here_while_warming: bool = False) -> Any:
    """``fn(*args)`` in a worker process if the studio has workers, else here. ``fn`` must be a module-level
    function of this package and its arguments plain, picklable values. A worker that died is replaced, and
    the call it was serving is computed here. ``here_while_warming``: while every worker is still starting (the
    first seconds after the server started), compute here rather than wait for one (for light work whose
    models the server has loaded anyway: the toy page, the first page a visitor sees)."""
    pool = _pool()
    if pool is None or (here_while_warming and pool.warming()):
        return fn(*args)
    return pool.call(fn, *args)


def warm_up() -> None:
    """Start the workers and load what every page needs, in the background (first visitors do not wait for
    a worker to import torch). Does nothing without workers."""
    pool = _pool()
    if pool is not None:
        pool.start()


def preload() -> None:
    """What every worker needs at once, loaded in the fork server before it forks them (``app.worker_preload``):
    torch, the toy models, the plotting backend."""
    # Threads: none set here. The fork server inherits OMP_NUM_THREADS from ./run_app.sh, fixed once for the
    # whole server at start-up, and torch reads it when it is imported.
    keep_freed_memory()
    compute.toy_models()
    import matplotlib.backends.backend_agg  # noqa: F401
    import matplotlib.figure  # noqa: F401

    import_library()

    # Not the benchmark models (small) nor the images: each worker loads those in a low-priority thread soon
    # after it starts (``_warm_data``; the images are mapped from a file, which shares them too), keeping this
    # short: every worker waits for it, and the first visitor's page is drawn in the server meanwhile.


def import_library() -> None:
    """Every module of the library, now: its names load on first use (``hypermaml.__getattr__``), which here
    would be in several visitors' threads at once, or in each worker apart. Called by the fork server before
    it forks the workers (``preload``) and by the server before its first visitor (``app.warmup``)."""
    import hypermaml as hm
    import hypermaml.data

    for package in (hm, hypermaml.data):
        for name in package.__all__:
            getattr(package, name)


def preloaded() -> bool:
    """Whether this process was forked from the preloaded fork server (a worker), for checks and diagnostics."""
    import sys

    return "app.worker_preload" in sys.modules


def preloaded_models() -> int:
    """How many times this process's toy models were loaded (1 in a worker: by the fork server, before the fork)."""
    return compute.toy_models.cache_info().misses


def _warm() -> None:
    """A worker's first job: what the toy page needs, at once (already loaded when the fork server preloaded it);
    then, in a thread at low priority, what the first Real episode needs (mapping EMNIST's cached bytes; the
    first time on a machine, decoding them, seconds of CPU that the first visitors' pages need more)."""
    compute.toy_models()
    import matplotlib.backends.backend_agg  # noqa: F401

    threading.Thread(target=_warm_data, daemon=True, name="warm-data").start()


def _warm_data() -> None:
    try:
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 10)  # this thread only (Linux)
    except (AttributeError, OSError):
        pass
    try:
        compute.dataset("emnist-test")  # Real episodes' default images (skipped without the data)
        compute.benchmark_models(1)
    except FileNotFoundError:
        pass
