"""Typed configuration for every knob in the library.

Frozen dataclasses, nested; ``to_dict``/``from_dict`` turn them into plain data so a checkpoint can store
its own config (and ``hm.load`` can rebuild the model from it). Nothing in the core reads argparse: the
CLIs build these objects and pass them in.

``from_dict`` is the edge where user data (a JSON or TOML run config, ``--set`` overrides, a checkpoint's
stored config) becomes a config, so it checks every field's type (from the type hints) and range (from the
``metadata`` beside the field) and raises ``ConfigError`` naming the field's dotted path, the value given and
what is allowed. ``load_run_config`` reads a whole run config file into a ``RunConfig``. The generic
machinery (fields with rules, the checks, plain data both ways) is ``hypermaml.config_io``.
"""

from __future__ import annotations

import json
import os
import re
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from .config_io import ConfigError, apply_override, from_plain, show, to_dict
from .config_io import field_with_rules as _f  # every field below with a rule uses it

METHODS = ("maml", "hypermaml", "protonet")
BATCH_NORMS = ("transductive", "running", "metabn", "tasknorm-i")


def _device_problem(value: str) -> str | None:
    if value in ("cpu", "cuda") or re.fullmatch(r"cuda:\d+", value):
        return None
    return "is not a device this library runs on"


def _dataset_names() -> str:
    from .data import DATASETS  # lazy: the data package imports torch and would make a cycle at import

    return "one of " + ", ".join(repr(name) for name in DATASETS)


def _dataset_problem(value: str) -> str | None:
    from .data import DATASETS

    return None if value in DATASETS else "is not a known dataset"


@dataclass(frozen=True)
class BackboneConfig:
    """The feature extractor shared by every method.

    ``kind="identity"`` is the toy's "no backbone": the classifier sees the (standardised) raw
    coordinates. ``kind="conv4"`` is the paper's 4 x [conv3x3-64, BN, ReLU, maxpool2].
    """

    kind: Literal["identity", "conv4"] = "conv4"
    in_channels: int = _f(1, min=1)
    # The side of the square images a conv4 backbone takes (and checks): 28 for the Omniglot/EMNIST
    # characters, 84 for the paper's miniImageNet and CUB. With ``n_blocks`` it fixes the embedding size,
    # hidden * (image_size // 2**n_blocks)**2. Checkpoints from before this field hold 28x28 models.
    image_size: int = _f(28, min=1)
    # Per-channel (identity: per-coordinate) standardisation applied inside the model, so that users
    # pass raw inputs and the checkpoint carries its own preprocessing.
    input_mean: tuple[float, ...] = _f((0.0,), min_items=1)
    input_std: tuple[float, ...] = _f((1.0,), gt=0, min_items=1)
    hidden: int = _f(64, min=1)
    n_blocks: int = _f(4, min=1)
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
            raise ValueError(f"input_mean has {len(self.input_mean)} entries but input_std has {len(self.input_std)}")
        if any(s <= 0 for s in self.input_std):
            raise ValueError(f"input_std must be positive, got {self.input_std}")
        if self.batch_norm not in BATCH_NORMS:
            raise ValueError(f"unknown batch_norm {self.batch_norm!r}; choose one of {BATCH_NORMS}")
        if self.kind == "conv4" and self.image_size < 2**self.n_blocks:
            raise ValueError(
                f"image_size={self.image_size} leaves no pixel after n_blocks={self.n_blocks} poolings "
                f"(need image_size >= {2**self.n_blocks})"
            )


@dataclass(frozen=True)
class MAMLConfig:
    """Model-agnostic meta-learning (Finn et al., 2017)."""

    inner_lr: float = _f(0.01, gt=0)  # inner step size during meta-training
    test_inner_lr: float | None = _f(None, gt=0)  # inner step size at test time; None = the same as inner_lr
    train_steps: int = _f(5, min=0)  # inner steps during meta-training
    test_steps: int = _f(10, min=0)  # default inner steps in adapt() at test time; any k >= 0 may be passed
    # False: differentiate through the inner loop (second order, the default for training).
    # True: treat inner gradients as constants (FOMAML), cheaper and often nearly as good.
    first_order: bool = False
    # "head": adapt only the linear classifier (ANIL-style, cheap); "all": every parameter.
    adapt: Literal["head", "all"] = "all"


@dataclass(frozen=True)
class HyperMAMLConfig:
    """The hypernetwork that replaces MAML's inner loop (Przewiezlikowski et al., 2022)."""

    hidden: int = _f(256, min=1)
    n_hidden_layers: int = _f(2, min=0)
    # How one class's enhanced support embeddings become one hypernetwork input: "concat" keeps every
    # shot (input size n_shot * d, order matters); "mean" averages them (size d, any n_shot at test).
    aggregation: Literal["concat", "mean"] = "concat"
    # The paper's MAML warm-up: for ``warmup_epochs`` the classifier is adapted by pure MAML steps, then
    # over ``blend_epochs`` the update is a linear blend p*MAML + (1-p)*hypernetwork with p going 1 -> 0,
    # then the hypernetwork alone. 0/0 switches the warm-up off.
    warmup_epochs: int = _f(0, min=0)
    blend_epochs: int = _f(0, min=0)
    warmup_inner_lr: float = _f(0.01, min=0)
    warmup_steps: int = _f(5, min=0)
    # Optional penalty lambda * ||delta||^2 on the hypernetwork's output, added to the meta-loss.
    delta_penalty: float = _f(0.0, min=0)
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
    init_scale: float = _f(1.0, gt=0)


@dataclass(frozen=True)
class ModelConfig:
    """Everything ``hm.load`` needs to rebuild a model."""

    method: Literal["maml", "hypermaml", "protonet"] = "hypermaml"
    n_way: int = _f(5, min=2)
    n_shot: int = _f(1, min=1)  # the hypernetwork's "concat" input size depends on it
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

    scale: tuple[float, float] = _f((1.0, 1.0), gt=0)  # zoom factor range (>1 enlarges the character)
    rotate: float = _f(0.0, min=0)  # degrees, uniform in [-rotate, rotate]
    translate: float = _f(0.0, min=0)  # shift, as a fraction of the image side, uniform in [-translate, translate]
    thicken: tuple[int, int] = _f((0, 0), min=0)  # number of one-pixel plus-shaped ink dilations, uniform in this range

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

    epochs: int = _f(10, min=1)
    episodes_per_epoch: int = _f(500, min=1)  # counted in episodes, not optimiser steps
    meta_batch: int = _f(4, min=1)  # episodes averaged into one optimiser step
    lr: float = _f(1e-3, gt=0)  # Adam, outer loop
    # "constant": lr throughout; "cosine": from lr down to 0 along a half cosine over all epochs * steps (the
    # step's learning rate is a function of the step alone, so a resumed run continues the same curve)
    lr_schedule: Literal["constant", "cosine"] = "constant"
    # An exponential moving average of the weights, updated after every optimiser step with this decay (0: none;
    # 0.998 averages about the last 500 steps): validation, best.pt and the model returned use the average.
    ema_decay: float = _f(0.0, min=0, max=0.9999)
    n_query: int = _f(15, min=1)  # query examples per class in training episodes
    val_episodes: int = _f(100, min=0)  # 0 disables validation
    seed: int = _f(0, min=0)
    device: str = _f("cpu", check=_device_problem, need="'cpu', 'cuda' or 'cuda:<index>'")
    augment: AugmentConfig = field(default_factory=AugmentConfig)  # training episodes only
    # A checkpoint whose weights start this run (fine-tuning, e.g. a transductive model moved to MetaBN);
    # weights the new model has and the file lacks (TaskNorm-I's blend) keep their initial values.
    init_from: str | None = None
    # How a meta-batch's episodes are computed: "loop" one after another; "vmap" all in one torch.func.vmap call
    # (hypermaml.vectorise: one backbone call, per-episode normalisation, MAML's inner loop vectorised); "auto"
    # takes vmap on CUDA and the loop on CPU, where the loop measured 1.0-2x faster (channels-last and fused
    # batch norm, which vmap cannot use). Both give the same loss and gradients up to float rounding.
    vectorise: Literal["auto", "loop", "vmap"] = "auto"
    # "bfloat16": autocast the meta-batch's forward to bfloat16 on CUDA (parameters and optimiser stay float32).
    precision: Literal["float32", "bfloat16"] = "float32"

    def __post_init__(self) -> None:
        if self.precision == "bfloat16" and not self.device.startswith("cuda"):
            raise ValueError(f"precision 'bfloat16' autocasts on CUDA only; device is {self.device!r}")


@dataclass(frozen=True)
class DataConfig:
    """The named datasets (``hypermaml.data.DATASETS``) a run meta-trains, validates and tests on."""

    train: str = _f(check=_dataset_problem, need=_dataset_names)
    val: str | None = _f(None, check=_dataset_problem, need=_dataset_names)  # None: no validation
    test: str | None = _f(None, check=_dataset_problem, need=_dataset_names)  # None: no test split named


@dataclass(frozen=True)
class RunConfig:
    """One meta-training run: what to build, how to train it, on which data (a run config file)."""

    model: ModelConfig
    train: TrainConfig
    data: DataConfig

    def to_dict(self) -> dict[str, Any]:
        """As nested plain data, ready for JSON (the inverse of ``from_dict(RunConfig, ...)``)."""
        return to_dict(self)


def from_dict(cls: type, data: dict[str, Any], prefix: str | None = None) -> Any:
    """Rebuild config ``cls`` from plain data (``to_dict`` output, JSON, TOML), checking every value.

    Unknown keys are an error, missing keys take their defaults (a missing section is built from ``{}``),
    JSON lists become tuples and integers given for float fields become floats.

    Args:
        cls: a config dataclass (``ModelConfig``, ``TrainConfig``, ``RunConfig``, ...).
        data: its fields as a dict.
        prefix: the dotted path of ``data`` in a run config, for messages; by default the place ``cls``
            has in ``RunConfig`` (``"model"`` for ModelConfig, ``"model.backbone"`` for BackboneConfig).

    Raises:
        ConfigError: naming the field, the value given and what is allowed, e.g.
            ``model.n_way: 5.5 is not an integer (need an integer >= 2)``.
    """
    return from_plain(cls, data, prefix, root=RunConfig)


CONFIGS_DIR = Path(__file__).absolute().parent / "configs"


def shipped_configs() -> list[str]:
    """The names of the run configs shipped inside the package (``"omniglot_emnist_hypermaml_1shot"``,
    ``"finetune/..."``, ``"transductive/..."``), sorted; ``load_run_config`` accepts each."""
    names = (p.relative_to(CONFIGS_DIR).with_suffix("").as_posix() for p in CONFIGS_DIR.rglob("*.json"))
    return sorted(names, key=lambda name: (name.count("/"), name))  # the top-level (from scratch) ones first


def resolve_config(path: str | os.PathLike) -> Path:
    """The config file ``path`` names: an existing file as it is, else a shipped config's name (``.json``
    optional). Raises ``ConfigError`` (naming the shipped configs) if neither."""
    if not os.fspath(path).strip():
        raise ConfigError("no config named: give a shipped config's name (hypermaml configs lists them) or a file")
    given = Path(path)
    if given.exists():
        return given
    text = os.fspath(path).replace(os.sep, "/").removesuffix(".json")
    parts = text.split("/")
    if text and not given.is_absolute() and all(part not in ("", ".", "..") for part in parts):
        candidate = CONFIGS_DIR / f"{text}.json"
        if candidate.is_file():
            return candidate
    if given.is_absolute():  # a path, not a name
        raise ConfigError(f"config file '{path}' does not exist")
    top = [name for name in shipped_configs() if "/" not in name]
    raise ConfigError(
        f"config file '{path}' does not exist, and no shipped config has that name; shipped: {', '.join(top)}, "
        "and finetune/... and transductive/... variants (hypermaml configs lists them all)"
    )


def load_run_config(path: str | os.PathLike, overrides: typing.Iterable[str] = ()) -> RunConfig:
    """A run config: a file (JSON, or TOML by its ``.toml`` extension) or a shipped config's name (see
    ``shipped_configs``), with ``section.field=value`` overrides.

    The file holds the sections ``model`` (ModelConfig fields), ``train`` (TrainConfig fields) and ``data``
    (dataset names: ``train``, ``val``, ``test``). An override's value is parsed as JSON when it can be
    (numbers, true/false, null, lists), else taken as a string; nested keys reach sub-sections
    (``model.backbone.batch_norm=metabn``).

    Raises:
        ConfigError: a one-line message for a missing or malformed file, an unknown section or key, a
            malformed ``--set`` item or a value out of type or range.
    """
    import tomllib

    path = resolve_config(path)
    if path.is_dir():
        raise ConfigError(f"config file '{path}' is a directory, not a file")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"config file '{path}' is not UTF-8 text (byte {exc.start})") from exc
    except OSError as exc:
        raise ConfigError(f"config file '{path}' cannot be read: {exc.strerror or exc}") from exc
    if path.suffix.lower() == ".toml":
        try:
            raw = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"config file '{path}' is not valid TOML: {_one_line(str(exc))}") from exc
    else:
        try:
            raw = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ConfigError(
                f"config file '{path}' is not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}"
            ) from exc
    if not isinstance(raw, dict):
        raise ConfigError(f"config file '{path}' holds {show(raw)}, not an object with sections model, train, data")
    overridden = [apply_override(raw, item, root=RunConfig) for item in overrides]
    try:
        return from_dict(RunConfig, raw, prefix="")
    except ConfigError as exc:
        for key, item in reversed(overridden):
            if exc.path is not None and (exc.path == key or exc.path.startswith((key + ".", key + "["))):
                raise ConfigError(f"--set {item!r}: {exc}", exc.path) from exc
        raise ConfigError(f"config file '{path}': {exc}", exc.path) from exc


def _one_line(text: str) -> str:
    return " ".join(text.split())
