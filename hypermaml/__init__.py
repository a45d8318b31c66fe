"""HyperMAML Studio's core library: HyperMAML, MAML and ProtoNet for few-shot classification.

>>> import torch
>>> import hypermaml as hm
>>> model = hm.load("toy_hypermaml")              # a bundled model by name (hm.load also takes a .pt path)
>>> support_x = torch.tensor([[-2.0, 0.0], [2.0, 0.0]])  # the toy's inputs are raw 2-D points
>>> support_y = torch.tensor([0, 1])
>>> task = model.adapt(support_x, support_y)      # pure: the model is never changed
>>> model.logits(torch.tensor([[-1.5, 0.2]]), task).shape
torch.Size([1, 2])
"""

__version__ = "0.3.0"  # the one place the version lives: pyproject.toml and `hypermaml --version` read it

# The names below load on first use (hypermaml.lazy): `import hypermaml`, the command's --help, its usage
# errors and `hypermaml configs` do not pay for importing torch; type checkers and editors read the plain
# imports under TYPE_CHECKING.
from typing import TYPE_CHECKING

from .lazy import lazy_names

if TYPE_CHECKING:
    from .base import FewShotModel
    from .checkpoint import build_model, load, save
    from .config import (
        BackboneConfig,
        ConfigError,
        HyperMAMLConfig,
        MAMLConfig,
        ModelConfig,
        ProtoNetConfig,
        TrainConfig,
    )
    from .custom_backbone import ModuleBackbone
    from .episodes import Episode, EpisodeSampler
    from .errors import CheckpointError
    from .evaluation import EvalResult, evaluate
    from .grid import Grid, decision_grid
    from .hypermaml import HyperMAML, HyperTask
    from .maml import MAML, MAMLTask
    from .protonet import ProtoNet, ProtoTask
    from .training import TrainResult, meta_train

# where each public name lives; __all__ below lists the same names (tests/test_package.py checks it)
_HOME = {
    "BackboneConfig": "config",
    "CheckpointError": "errors",
    "ConfigError": "config",
    "Episode": "episodes",
    "EpisodeSampler": "episodes",
    "EvalResult": "evaluation",
    "FewShotModel": "base",
    "Grid": "grid",
    "HyperMAML": "hypermaml",
    "HyperMAMLConfig": "config",
    "HyperTask": "hypermaml",
    "MAML": "maml",
    "MAMLConfig": "config",
    "MAMLTask": "maml",
    "ModuleBackbone": "custom_backbone",
    "ModelConfig": "config",
    "ProtoNet": "protonet",
    "ProtoNetConfig": "config",
    "ProtoTask": "protonet",
    "TrainConfig": "config",
    "TrainResult": "training",
    "build_model": "checkpoint",
    "decision_grid": "grid",
    "evaluate": "evaluation",
    "load": "checkpoint",
    "meta_train": "training",
    "save": "checkpoint",
}


__getattr__, __dir__ = lazy_names(__name__, _HOME, globals())

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
    "ModuleBackbone",
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
