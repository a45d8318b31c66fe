"""HyperMAML Studio's core library: HyperMAML, MAML and ProtoNet for few-shot classification.

import hypermaml as hm
model = hm.load("pretrained/toy_hypermaml.pt")
task = model.adapt(support_x, support_y)
logits = model.logits(query_x, task)
"""

from .base import FewShotModel
from .checkpoint import CheckpointError, build_model, load, save
from .config import (
    BackboneConfig,
    ConfigError,
    HyperMAMLConfig,
    MAMLConfig,
    ModelConfig,
    ProtoNetConfig,
    TrainConfig,
)
from .episodes import Episode, EpisodeSampler
from .evaluation import EvalResult, evaluate
from .grid import Grid, decision_grid
from .hypermaml import HyperMAML, HyperTask
from .maml import MAML, MAMLTask
from .protonet import ProtoNet, ProtoTask
from .training import TrainResult, meta_train

__all__ = [
    "BackboneConfig",
    "CheckpointError",
    "ConfigError",
    "Episode",
    "EpisodeSampler",
    "EvalResult",
    "FewShotModel",
    "Grid",
    "HyperMAML",
    "HyperMAMLConfig",
    "HyperTask",
    "MAML",
    "MAMLConfig",
    "MAMLTask",
    "ModelConfig",
    "ProtoNet",
    "ProtoNetConfig",
    "ProtoTask",
    "TrainConfig",
    "TrainResult",
    "build_model",
    "decision_grid",
    "evaluate",
    "load",
    "meta_train",
    "save",
]
