"""Shared fixtures: tiny models that build in milliseconds."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import hypermaml as hm  # noqa: E402

torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))


def tiny_conv_config(method: str, n_way: int = 3, n_shot: int = 2, batch_norm: str = "transductive", **kw) -> hm.ModelConfig:
    backbone = hm.BackboneConfig(
        kind="conv4", in_channels=1, hidden=8, input_mean=(0.5,), input_std=(0.25,), batch_norm=batch_norm
    )
    return hm.ModelConfig(method=method, n_way=n_way, n_shot=n_shot, backbone=backbone, **kw)


# Every method and adaptation mode whose inference must be pure and batch-independent, as tiny-config kwargs.
METHOD_VARIANTS = {
    "maml-all": dict(method="maml", maml=hm.MAMLConfig(adapt="all", inner_lr=0.3, test_steps=3)),
    "maml-head": dict(method="maml", maml=hm.MAMLConfig(adapt="head", inner_lr=0.3, test_steps=3)),
    "hypermaml": dict(method="hypermaml", hypermaml=hm.HyperMAMLConfig(hidden=16)),
    "protonet": dict(method="protonet"),
}


def linear_config(method: str, n_way: int = 2, n_shot: int = 1, **kw) -> hm.ModelConfig:
    """A linear classifier on raw 2-D points (identity backbone, no standardisation)."""
    backbone = hm.BackboneConfig(kind="identity", in_channels=2, input_mean=(0.0, 0.0), input_std=(1.0, 1.0))
    return hm.ModelConfig(method=method, n_way=n_way, n_shot=n_shot, backbone=backbone, **kw)


def image_episode(n_way: int = 3, n_shot: int = 2, n_query: int = 4, seed: int = 0) -> hm.Episode:
    g = torch.Generator().manual_seed(seed)
    return hm.Episode(
        support_x=torch.rand(n_way * n_shot, 1, 28, 28, generator=g),
        support_y=torch.arange(n_way).repeat_interleave(n_shot),
        query_x=torch.rand(n_way * n_query, 1, 28, 28, generator=g),
        query_y=torch.arange(n_way).repeat_interleave(n_query),
    )


@pytest.fixture
def episode() -> hm.Episode:
    return image_episode()
