"""Typed configuration for every knob in the library.

Frozen dataclasses, nested; ``to_dict``/``from_dict`` turn them into plain data so a checkpoint can store
its own config (and ``hm.load`` can rebuild the model from it). Nothing in the core reads argparse: the
CLIs build these objects and pass them in.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Literal

METHODS = ("maml", "hypermaml", "protonet")
BATCH_NORMS = ("transductive", "running", "metabn", "tasknorm-i")


@dataclass(frozen=True)
class BackboneConfig:
    """The feature extractor shared by every method.

    ``kind="identity"`` is the toy's "no backbone": the classifier sees the (standardised) raw
    coordinates. ``kind="conv4"`` is the paper's 4 x [conv3x3-64, BN, ReLU, maxpool2].
    """

    kind: Literal["identity", "conv4"] = "conv4"
    in_channels: int = 1
    # Per-channel (identity: per-coordinate) standardisation applied inside the model, so that users
    # pass raw inputs and the checkpoint carries its own preprocessing.
    input_mean: tuple[float, ...] = (0.0,)
    input_std: tuple[float, ...] = (1.0,)
    hidden: int = 64
    n_blocks: int = 4
    # "transductive": BatchNorm always normalises with the statistics of the batch it is given (support
    # batch while adapting, query batch while predicting), as in MAML and the HyperMAML paper's code;
    # no running statistics exist, so a model never changes when it is used.
    # "running": BatchNorm keeps running statistics during meta-training and uses them in eval mode, so a
    # single query image is classified the same way whatever else is in its batch.
    # "metabn": the support set's moments normalise support and queries (MetaBN, Bronskill et al. 2020).
    # "tasknorm-i": support moments blended with each image's own instance moments (TaskNorm-I, same paper).
    # The last three are batch-independent: a query's logits depend on (model, support set, that query).
    batch_norm: Literal["transductive", "running", "metabn", "tasknorm-i"] = "transductive"

    def __post_init__(self) -> None:
        if len(self.input_mean) != len(self.input_std):
            raise ValueError(
                f"input_mean has {len(self.input_mean)} entries but input_std has {len(self.input_std)}"
            )
        if any(s <= 0 for s in self.input_std):
            raise ValueError(f"input_std must be positive, got {self.input_std}")
        if self.batch_norm not in BATCH_NORMS:
            raise ValueError(f"unknown batch_norm {self.batch_norm!r}; choose one of {BATCH_NORMS}")


@dataclass(frozen=True)
class MAMLConfig:
    """Model-agnostic meta-learning (Finn et al., 2017)."""

    inner_lr: float = 0.01  # inner step size during meta-training
    test_inner_lr: float | None = None  # inner step size at test time; None = the same as inner_lr
    train_steps: int = 5  # inner steps during meta-training
    test_steps: int = 10  # default inner steps in adapt() at test time; any k >= 0 may be passed
    # False: differentiate through the inner loop (second order, the default for training).
    # True: treat inner gradients as constants (FOMAML), cheaper and often nearly as good.
    first_order: bool = False
    # "head": adapt only the linear classifier (ANIL-style, cheap); "all": every parameter.
    adapt: Literal["head", "all"] = "all"


@dataclass(frozen=True)
class HyperMAMLConfig:
    """The hypernetwork that replaces MAML's inner loop (Przewiezlikowski et al., 2022)."""

    hidden: int = 256
    n_hidden_layers: int = 2
    # How one class's enhanced support embeddings become one hypernetwork input: "concat" keeps every
    # shot (input size n_shot * d, order matters); "mean" averages them (size d, any n_shot at test).
    aggregation: Literal["concat", "mean"] = "concat"
    # The paper's MAML warm-up: for ``warmup_epochs`` the classifier is adapted by pure MAML steps, then
    # over ``blend_epochs`` the update is a linear blend p*MAML + (1-p)*hypernetwork with p going 1 -> 0,
    # then the hypernetwork alone. 0/0 switches the warm-up off.
    warmup_epochs: int = 0
    blend_epochs: int = 0
    warmup_inner_lr: float = 0.01
    warmup_steps: int = 5
    # Optional penalty lambda * ||delta||^2 on the hypernetwork's output, added to the meta-loss.
    delta_penalty: float = 0.0
    # Not in the paper: a zero-initialised linear path from the class input straight to the output, beside
    # the MLP. The update that turns a linear head into a nearest-prototype classifier (w_c = 2 e_c,
    # b_c = -||e_c||^2) is mostly linear in the embedding, and a linear map extrapolates to another
    # domain's embeddings more gracefully than a ReLU MLP.
    linear_skip: bool = False


@dataclass(frozen=True)
class ProtoNetConfig:
    """Prototypical networks (Snell et al., 2017): logits = -scale * squared distance to class means."""

    # A learnable logit scale (initialised to ``init_scale``) only calibrates probabilities; the argmax
    # is the nearest prototype whatever its value.
    init_scale: float = 1.0


@dataclass(frozen=True)
class ModelConfig:
    """Everything ``hm.load`` needs to rebuild a model."""

    method: Literal["maml", "hypermaml", "protonet"] = "hypermaml"
    n_way: int = 5
    n_shot: int = 1  # the hypernetwork's "concat" input size depends on it
    backbone: BackboneConfig = field(default_factory=BackboneConfig)
    maml: MAMLConfig = field(default_factory=MAMLConfig)
    hypermaml: HyperMAMLConfig = field(default_factory=HyperMAMLConfig)
    protonet: ProtoNetConfig = field(default_factory=ProtoNetConfig)

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise ValueError(f"unknown method {self.method!r}; choose one of {METHODS}")
        if self.n_way < 2:
            raise ValueError(f"n_way must be at least 2, got {self.n_way}")
        if self.n_shot < 1:
            raise ValueError(f"n_shot must be at least 1, got {self.n_shot}")


@dataclass(frozen=True)
class AugmentConfig:
    """Random training-time changes to dark-on-light images, drawn for each image on its own.

    The defaults change nothing. Omniglot strokes are thin and small in the frame, EMNIST's are thick and
    fill it; these let meta-training see that variety (``hypermaml.augment``).
    """

    scale: tuple[float, float] = (1.0, 1.0)  # zoom factor range (>1 enlarges the character)
    rotate: float = 0.0  # degrees, uniform in [-rotate, rotate]
    translate: float = 0.0  # shift, as a fraction of the image side, uniform in [-translate, translate]
    thicken: tuple[int, int] = (0, 0)  # number of one-pixel plus-shaped ink dilations, uniform in this range

    def __post_init__(self) -> None:
        lo, hi = self.scale
        if not 0 < lo <= hi:
            raise ValueError(f"scale must be 0 < low <= high, got {self.scale}")
        t_lo, t_hi = self.thicken
        if not 0 <= t_lo <= t_hi:
            raise ValueError(f"thicken must be 0 <= low <= high, got {self.thicken}")
        if self.rotate < 0 or self.translate < 0:
            raise ValueError("rotate and translate must be >= 0")

    @property
    def active(self) -> bool:
        return self != AugmentConfig()


@dataclass(frozen=True)
class TrainConfig:
    """Meta-training schedule (episodic)."""

    epochs: int = 10
    episodes_per_epoch: int = 500  # counted in episodes, not optimiser steps
    meta_batch: int = 4  # episodes averaged into one optimiser step
    lr: float = 1e-3  # Adam, outer loop
    n_query: int = 15  # query examples per class in training episodes
    val_episodes: int = 100  # 0 disables validation
    seed: int = 0
    device: str = "cpu"
    augment: AugmentConfig = field(default_factory=AugmentConfig)  # training episodes only
    # A checkpoint whose weights start this run (fine-tuning, e.g. a transductive model moved to MetaBN);
    # weights the new model has and the file lacks (TaskNorm-I's blend) keep their initial values.
    init_from: str | None = None


def to_dict(cfg: Any) -> dict[str, Any]:
    """A config dataclass as nested plain data (tuples become lists, ready for JSON)."""

    def plain(v: Any) -> Any:
        if dataclasses.is_dataclass(v):
            return {f.name: plain(getattr(v, f.name)) for f in dataclasses.fields(v)}
        if isinstance(v, (tuple, list)):
            return [plain(x) for x in v]
        return v

    return plain(cfg)


def from_dict(cls: type, data: dict[str, Any]) -> Any:
    """Rebuild config ``cls`` from ``to_dict`` output; unknown keys are an error, missing keys default."""
    if not isinstance(data, dict):
        raise TypeError(f"{cls.__name__} needs a dict, got {type(data).__name__}")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise ValueError(f"unknown {cls.__name__} field(s): {', '.join(unknown)}")
    kwargs: dict[str, Any] = {}
    for name, value in data.items():
        sub = _NESTED.get((cls.__name__, name))
        if sub is not None:
            kwargs[name] = from_dict(sub, value)
        elif isinstance(value, list):  # JSON has no tuples; every sequence field here is a tuple
            kwargs[name] = tuple(value)
        else:
            kwargs[name] = value
    return cls(**kwargs)


_NESTED = {
    ("ModelConfig", "backbone"): BackboneConfig,
    ("ModelConfig", "maml"): MAMLConfig,
    ("ModelConfig", "hypermaml"): HyperMAMLConfig,
    ("ModelConfig", "protonet"): ProtoNetConfig,
    ("TrainConfig", "augment"): AugmentConfig,
}
