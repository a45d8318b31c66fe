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
def _many_done() -> tuple[dict, threading.Lock]:
    """Results of ``many_episodes`` by setting, shared by every visitor (a class computes each once), and the
    lock that guards their keeping and eviction (visitors' scripts run in threads of their own)."""
    return {}, threading.Lock()


def many_episodes(name: str, n_shot: int, benchmark: str, n: int, on_chunk=None) -> dict[str, np.ndarray]:
    """Every method on the page's episodes of seeds 0..n-1, in chunks spread over the worker processes, with
    ``on_chunk(done, total)`` after each chunk (for a progress bar); kept per setting for every visitor."""
    done, lock = _many_done()
    key = (name, n_shot, benchmark, n)
    with lock:
        result = done.get(key)
    if result is None:
        chunks = [(first, min(MANY_CHUNK, n - first)) for first in range(0, n, MANY_CHUNK)]
        with ThreadPoolExecutor(max(1, workers.count())) as pool:
            futures = {pool.submit(workers.run, compute.episode_accuracies, name, n_shot, benchmark, *c): c for c in chunks}
            parts = {}
            for future in as_completed(futures):
                parts[futures[future]] = future.result()
                if on_chunk is not None:
                    on_chunk(sum(count for _, count in parts), n)
        ordered = [parts[c] for c in chunks]
        result = {method: np.concatenate([p[method] for p in ordered]) for method in ordered[0]}
        with lock:
            while len(done) >= 32:  # the oldest setting goes first
                done.pop(next(iter(done)))
            done[key] = result
    return result
