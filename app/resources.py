"""Cached resources shared by every session of the studio (models load once per process).

Sharing is safe because inference never writes to a model (``hypermaml.backbones``: functional forwards with
explicit parameters and support statistics); ``tests/test_concurrency.py`` hammers one model from threads.
Process-wide settings are never made here or per request: ``./run_app.sh`` fixes torch's thread count for the
whole server before it starts (``HYPERMAML_STUDIO_THREADS``, default 1, exported as ``OMP_NUM_THREADS``).
The loaders live in ``app.compute`` (worker processes use them too); these wrappers add Streamlit's spinner.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor, as_completed

import numpy as np
import streamlit as st

import hypermaml as hm
from app import compute, workers
from app.store import Store, url_from_env

PRETRAINED = compute.PRETRAINED


@st.cache_resource(show_spinner="Loading the toy models ...")
def toy_models() -> dict[str, hm.FewShotModel]:
    """The committed toy checkpoints. Safe to share: adapt() never mutates a model."""
    return compute.toy_models()


@st.cache_resource(show_spinner="Loading the benchmark models ...")
def benchmark_models(n_shot: int, benchmark: str = "omniglot_emnist", transductive: bool = False) -> dict[str, hm.FewShotModel]:
    """Committed checkpoints of ``benchmark`` for ``n_shot`` (whichever exist); see ``app.compute``."""
    return compute.benchmark_models(n_shot, benchmark, transductive)


@st.cache_resource(show_spinner=False)
def _store(url: str) -> Store:
    return Store.from_url(url)


def get_store() -> Store:
    """The process's store of saved tasks and rooms (thread-safe: one serves every visitor), one per database
    URL (``$HYPERMAML_STUDIO_DB`` or ``$HYPERMAML_STUDIO_DIR``: tests point each at a folder of their own).
    Made on first use; ``StoreError`` (with a plain message) when the database cannot be opened."""
    return _store(url_from_env())


def available_datasets() -> dict[str, str]:
    """Dataset name -> description, for the data this machine has (digits always)."""
    from hypermaml.data import DATASETS, data_root

    names = ["digits"]
    try:
        data_root()
        names = ["emnist-test", "emnist-val", "omniglot-test", "digits"]
    except FileNotFoundError:
        pass
    return {n: DATASETS[n][0] for n in names}


MANY_CHUNK = 10  # episodes per worker call: the workers share a long run, and a visitor's call waits at most one chunk


@st.cache_resource
def _many_jobs() -> tuple[dict, dict, threading.Lock]:
    """``many_episodes``' results by setting, the runs in progress by setting, and the lock that guards both: shared
    by every visitor (whose scripts run in threads of their own), so a class computes each setting once."""
    return {}, {}, threading.Lock()


class _ManyRun:
    """One setting's episodes, computed in a thread of its own: the visitors who asked for it wait on it and watch
    its progress, and a visitor who moves on (a rerun interrupts their wait) leaves it running for the others."""

    def __init__(self, key: tuple, done: dict, running: dict, lock: threading.Lock) -> None:
        self.key, self.finished_chunks, self.result, self.error = key, 0, None, None
        self.finished = threading.Event()
        threading.Thread(target=self._run, args=(done, running, lock), daemon=True, name="many-episodes").start()

    def _run(self, done: dict, running: dict, lock: threading.Lock) -> None:
        name, n_shot, benchmark, n = self.key
        chunks = [(first, min(MANY_CHUNK, n - first)) for first in range(0, n, MANY_CHUNK)]
        try:
            with ThreadPoolExecutor(max(1, workers.count())) as pool:
                futures = {pool.submit(workers.run, compute.episode_accuracies, name, n_shot, benchmark, *c): c for c in chunks}
                parts = {}
                for future in as_completed(futures):
                    parts[futures[future]] = future.result()
                    self.finished_chunks += futures[future][1]
            ordered = [parts[c] for c in chunks]
            self.result = {method: np.concatenate([p[method] for p in ordered]) for method in ordered[0]}
        except Exception as exc:  # said to every visitor waiting; the next request runs it again
            self.error = exc
        with lock:
            running.pop(self.key, None)
            if self.result is not None:
                while len(done) >= 32:  # the oldest setting goes first
                    done.pop(next(iter(done)))
                done[self.key] = self.result
        self.finished.set()


def many_episodes(name: str, n_shot: int, benchmark: str, n: int, on_chunk=None) -> dict[str, np.ndarray]:
    """Every method on the page's episodes of seeds 0..n-1, in chunks spread over the worker processes, computed
    once per setting for every visitor (a second visitor asking meanwhile waits for the same run), with
    ``on_chunk(done, total)`` as episodes finish (for a progress bar)."""
    done, running, lock = _many_jobs()
    key = (name, n_shot, benchmark, n)
    with lock:
        if key in done:
            return done[key]
        run = running.get(key)
        if run is None:
            run = running[key] = _ManyRun(key, done, running, lock)
    reported = -1
    while not run.finished.wait(0.2):
        if on_chunk is not None and run.finished_chunks != reported:
            reported = run.finished_chunks
            on_chunk(reported, n)
    if run.error is not None:
        raise run.error
    if on_chunk is not None and reported != n:
        on_chunk(n, n)
    return run.result
