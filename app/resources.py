"""Cached resources shared by every session of the studio (models load once per process)."""

from __future__ import annotations

from pathlib import Path

import streamlit as st

import hypermaml as hm

PRETRAINED = Path(__file__).resolve().parents[1] / "pretrained"


@st.cache_resource(show_spinner="Loading the toy models ...")
def toy_models() -> dict[str, hm.FewShotModel]:
    """The committed toy checkpoints. Safe to share: adapt() never mutates a model."""
    return {name: hm.load(PRETRAINED / f"toy_{name}.pt") for name in ("hypermaml", "maml", "protonet")}
