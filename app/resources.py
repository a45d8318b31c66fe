"""Cached resources shared by every session of the studio (models load once per process).

Sharing is safe because inference never writes to a model (``hypermaml.backbones``: functional forwards with
explicit parameters and support statistics); ``tests/test_concurrency.py`` hammers one model from threads.
Process-wide settings are never made here or per request: ``./run_app.sh`` fixes torch's thread count for the
whole server before it starts (``HYPERMAML_STUDIO_THREADS``, default 1, exported as ``OMP_NUM_THREADS``).
"""

from __future__ import annotations

from pathlib import Path

import streamlit as st
import hypermaml as hm

PRETRAINED = Path(__file__).resolve().parents[1] / "pretrained"


@st.cache_resource(show_spinner="Loading the toy models ...")
def toy_models() -> dict[str, hm.FewShotModel]:
    """The committed toy checkpoints. Safe to share: adapt() never mutates a model."""
    return {name: hm.load(PRETRAINED / f"toy_{name}.pt") for name in ("hypermaml", "maml", "protonet")}


@st.cache_resource(show_spinner="Loading the benchmark models ...")
def benchmark_models(n_shot: int, benchmark: str = "omniglot_emnist", transductive: bool = False) -> dict[str, hm.FewShotModel]:
    """Committed checkpoints of ``benchmark`` for ``n_shot`` (whichever exist).

    The default, batch-independent models classify every query on its own; ``transductive=True`` gives the
    models they were fine-tuned from, which normalise with the query batch (the paper's protocol), for
    comparison only.
    """
    folder = PRETRAINED / "transductive" if transductive else PRETRAINED
    found = {}
    for method in ("hypermaml", "maml", "protonet"):
        path = folder / f"{benchmark}_{method}_{n_shot}shot.pt"
        if path.is_file():
            found[method] = hm.load(path)
    return found


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


@st.cache_resource(show_spinner="Loading images ...", max_entries=3)
def dataset(name: str):
    from hypermaml.data import load_split

    return load_split(name)
