"""What every few-shot method shares: the adapt/logits contract and input validation.

The edge of the API (``adapt``, ``logits``, ``predict_proba``, ``meta_loss`` of every method) takes what a user
has and turns each ordinary mistake into one ``TypeError`` or ``ValueError`` naming what was expected and what
came (``as_images``, ``as_labels``, ``FewShotModel.check_task``), before any tensor operation could fail
inside PyTorch. The checks read a few attributes; nothing is copied when the inputs are already right.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .config import ModelConfig
from .custom_backbone import ModuleBackbone
from .episodes import Episode


class FewShotModel(nn.Module):
    """Base class. Subclasses implement ``adapt`` (support set -> task state) and ``logits``.

    ``adapt`` is pure: it never changes the model's parameters or buffers, so one model can be shared by
    many callers (the studio caches one per process).

    Inputs (every method alike): images as a float tensor (n, *backbone.input_shape) on the model's device,
    or a numpy array; labels as an integer tensor, numpy array, list or tuple (see ``as_images`` and
    ``as_labels`` for what is converted and what is refused).

    Gradients (every method alike): ``adapt`` and ``logits`` follow PyTorch's grad mode, in training and in
    evaluation mode. With gradients enabled the task state and the logits carry gradients back to the
    model's parameters (MAML: through its inner loop, of the configured order) and to inputs that require
    them; under ``torch.no_grad()`` or ``torch.inference_mode()`` no tensor of the task state or the logits
    requires gradients. Evaluation and the studio run under ``no_grad``: that is also the fast way.

    Args:
        config: the model's config.
        backbone: the feature extractor, ``backbones.build_backbone(config.backbone)`` (what
            ``hm.build_model`` passes), or your own ``nn.Module`` with an ``out_dim`` attribute, which is
            wrapped in ``custom_backbone.ModuleBackbone`` (see there for an example).
    """

    task_type: type = object  # the task state class this method's ``adapt`` returns (each subclass names it)

    def __init__(self, config: ModelConfig, backbone: nn.Module) -> None:
        super().__init__()
        if not isinstance(backbone, nn.Module):
            raise TypeError(f"the backbone must be a torch.nn.Module with an out_dim attribute, got {type(backbone).__name__}")
        if not hasattr(backbone, "embed_support"):  # a user's own module: give it the interface the methods use
            backbone = ModuleBackbone(backbone)
        built_from = getattr(backbone, "config", None)
        if built_from is not None and built_from != config.backbone:
            differ = [
                f"{name}: {getattr(config.backbone, name)!r} in the config, {getattr(built_from, name)!r} in the backbone"
                for name in config.backbone.__dataclass_fields__
                if getattr(config.backbone, name) != getattr(built_from, name)
            ]
            raise ValueError(
                "the backbone was built from another BackboneConfig than config.backbone ("
                + "; ".join(differ)
                + "): build it from config.backbone (hm.build_model(config) does), so that a checkpoint rebuilds it"
            )
        self.config = config
        self.backbone = backbone
        self.metrics: dict = {}  # filled by hm.load from the checkpoint; never saved in state_dict

    @property
    def device(self) -> torch.device:
        return next(self.buffers(), next(self.parameters(), torch.empty(0))).device

    def adapt(self, support_x: torch.Tensor, support_y: torch.Tensor):  # pragma: no cover - abstract
        raise NotImplementedError

    def logits(self, query_x: torch.Tensor, task) -> torch.Tensor:  # pragma: no cover - abstract
        raise NotImplementedError

    def predict_proba(self, query_x: torch.Tensor, task) -> torch.Tensor:
        """(n_query_total, n_way) class probabilities."""
        return self.logits(query_x, task).softmax(-1)

    def meta_loss(self, episode: Episode, epoch: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
        """Query cross-entropy after adapting on the support set; returns (loss, query logits).

        ``epoch`` is the meta-training epoch, for methods whose training changes with it (HyperMAML's
        warm-up); the others ignore it.
        """
        episode = self.check_episode(episode)
        task = self.adapt(episode.support_x, episode.support_y)
        logits = self.logits(episode.query_x, task)
        return F.cross_entropy(logits, episode.query_y), logits

    def check_support(self, support_x: torch.Tensor, support_y: torch.Tensor, n_way: int | None = None) -> int:
        """Validate a support set; returns its n_way. Labels must be 0..n_way-1, every class present."""
        return len(support_counts(support_x, support_y, n_way))

    def _reference(self) -> torch.Tensor:
        """A parameter whose dtype and device every input must have (each method names one of its own)."""
        raise NotImplementedError  # pragma: no cover - abstract

    def support_inputs(self, support_x: Any, support_y: Any) -> tuple[torch.Tensor, torch.Tensor]:
        """The edge of ``adapt``: (support_x, support_y) as the model's images and int64 labels, or one
        ``TypeError``/``ValueError`` saying what is wrong (see ``as_images``, ``as_labels``)."""
        like = self._reference()
        x = as_images(support_x, "support_x", like, self.backbone.input_shape)
        return x, as_labels(support_y, "support_y", like.device)

    def query_inputs(self, query_x: Any, task: Any) -> torch.Tensor:
        """The edge of ``logits``: ``task`` must be this method's task state, ``query_x`` images as in
        ``as_images``."""
        self.check_task(task)
        return as_images(query_x, "query_x", self._reference(), self.backbone.input_shape)

    def check_task(self, task: Any) -> None:
        """``TypeError`` unless ``task`` is the task state this method's ``adapt`` returns."""
        if not isinstance(task, self.task_type):
            method = type(self).__name__
            raise TypeError(
                f"{method}.logits needs the {self.task_type.__name__} that {method}.adapt returns; got "
                f"{_a(type(task).__name__)}" + (" (another method's task state)" if type(task).__name__.endswith("Task") else "")
            )

    def check_episode(self, episode: Episode) -> Episode:
        """``episode`` with its images and labels through the edge checks (the same object when they pass as
        they are, which is what samplers give)."""
        like = self._reference()
        shape = self.backbone.input_shape
        parts = (
            as_images(episode.support_x, "support_x", like, shape),
            as_labels(episode.support_y, "support_y", like.device),
            as_images(episode.query_x, "query_x", like, shape),
            as_labels(episode.query_y, "query_y", like.device),
        )
        given = (episode.support_x, episode.support_y, episode.query_x, episode.query_y)
        return episode if all(a is b for a, b in zip(parts, given)) else Episode(*parts)


def _a(noun: str) -> str:
    return f"an {noun}" if noun[:1].lower() in "aeiou" else f"a {noun}"


def as_images(x: Any, name: str, like: torch.Tensor, input_shape: tuple[int, ...] | None = None) -> torch.Tensor:
    """The edge for images (``support_x``, ``query_x``): ``x`` as a tensor of ``like``'s dtype and device.

    - A floating-point tensor of another dtype (float64, float16, bfloat16) is converted to the model's dtype
      (float32 for every model as built): the same pixel values, up to rounding.
    - A numpy array is converted to a tensor on the model's device (it has no device of its own).
    - Integer (uint8 pixels), bool and complex images raise ``TypeError``: images are floats, typically in
      [0, 1], e.g. ``x.float() / 255`` for 8-bit pixels.
    - A tensor on another device than the model raises ``ValueError`` naming both: nothing is moved behind
      your back (``x.to(model.device)``).
    - With ``input_shape`` (the backbone's, e.g. (1, 28, 28); None: not checked), any other shape than
      (n, *input_shape) raises ``ValueError``.

    The common case, a float32 tensor of the right shape on the right device, is returned as it is after a
    few attribute reads.
    """
    if not isinstance(x, torch.Tensor):
        if not isinstance(x, np.ndarray):
            raise TypeError(f"{name} must be a tensor of images (or a numpy array), got {_a(type(x).__name__)}")
        if x.dtype.kind not in "fiub":
            raise TypeError(f"{name} must hold numbers, got a numpy array of dtype {x.dtype}")
        x = torch.tensor(x, device=like.device)
    if x.dtype is not like.dtype:
        if not x.dtype.is_floating_point:
            hint = ": images are floats, e.g. x.float() / 255 for 8-bit pixels" if x.dtype is torch.uint8 else ""
            raise TypeError(f"{name} must hold floating-point images (like {like.dtype}), got {x.dtype}{hint}")
        x = x.to(like.dtype)
    if x.device != like.device:
        raise ValueError(f"{name} is on {x.device} but the model is on {like.device}; move one of them (x.to(model.device))")
    if input_shape is not None and (x.dim() != len(input_shape) + 1 or x.shape[1:] != input_shape):
        kind = "images" if len(input_shape) == 3 else "inputs"
        expected = ", ".join(str(d) for d in input_shape)
        hint = "; one example needs a batch dimension: x[None]" if tuple(x.shape) == tuple(input_shape) else ""
        raise ValueError(f"{name}: expected {kind} of shape (n, {expected}) (this model's backbone), got {tuple(x.shape)}{hint}")
    return x


def as_labels(y: Any, name: str, device: torch.device) -> torch.Tensor:
    """The edge for labels: ``y`` as an int64 tensor on ``device``.

    An integer tensor of another width is widened; an integer numpy array, list, tuple or range becomes a
    tensor on ``device``. Float, bool and complex labels raise ``TypeError`` (labels are class numbers
    0..n_way-1); a tensor on another device raises ``ValueError``.
    """
    if not isinstance(y, torch.Tensor):
        if isinstance(y, np.ndarray):
            if y.dtype.kind not in "iu":
                raise TypeError(f"{name} must hold integer labels, got a numpy array of dtype {y.dtype}")
        elif isinstance(y, (list, tuple, range)):
            bad = next((v for v in y if isinstance(v, bool) or not isinstance(v, (int, np.integer))), None)
            if bad is not None:
                raise TypeError(f"{name} must hold integer labels, got {_a(type(bad).__name__)} ({bad!r})")
        else:
            raise TypeError(
                f"{name} must be a tensor of integer labels (or a list, tuple or numpy array), got {_a(type(y).__name__)}"
            )
        return torch.tensor(np.asarray(y, dtype=np.int64), device=device)
    if y.dtype is not torch.int64:
        if y.dtype.is_floating_point or y.dtype.is_complex or y.dtype is torch.bool:
            raise TypeError(f"{name} must hold integer labels, got {y.dtype}")
        y = y.long()
    if y.device != device:
        raise ValueError(f"{name} is on {y.device} but the model is on {device}; move one of them (y.to(model.device))")
    return y


def support_counts(support_x: torch.Tensor, support_y: torch.Tensor, n_way: int | None = None) -> list[int]:
    """Validate a support set and count its labels: ``counts[c]`` examples of class c, for c in 0..n_way-1.

    Labels must be 0..n_way-1 (``n_way`` None: 0..max), every class present. The labels are read once as a
    Python list: a support set holds a few dozen, where each tensor operation costs more than the loop."""
    if support_y.dim() != 1 or len(support_y) != len(support_x):
        raise ValueError(
            f"support_y must be a 1-D tensor with one label per support example; got shape "
            f"{tuple(support_y.shape)} for {len(support_x)} examples"
        )
    if support_y.dtype not in (torch.int64, torch.int32, torch.int16, torch.uint8):
        raise TypeError(f"support_y must hold integer labels, got {support_y.dtype}")
    labels = support_y.tolist()
    if not labels:
        raise ValueError("the support set is empty")
    if min(labels) < 0:
        raise ValueError(f"labels must be 0..n_way-1; got {min(labels)}")
    if n_way is not None and max(labels) >= n_way:
        raise ValueError(f"labels must be 0..{n_way - 1} for this {n_way}-way model; got label {max(labels)}")
    counts = [0] * (max(labels) + 1 if n_way is None else n_way)
    for label in labels:
        counts[label] += 1
    missing = [i for i, c in enumerate(counts) if c == 0]
    if missing:
        raise ValueError(f"labels must be 0..n_way-1 with every class present; missing classes {missing}")
    return counts


def split_by_class(x: torch.Tensor, y: torch.Tensor, n_way: int) -> torch.Tensor:
    """Group rows of ``x`` by label: (n, ...) -> (n_way, n_per_class, ...); classes must be the same size. Rows
    already in class order (each class's examples together, classes in order) are only reshaped."""
    labels = y.tolist()
    counts = [labels.count(c) for c in range(n_way)]
    if len(set(counts)) != 1 or sum(counts) != len(labels):
        raise ValueError(f"every class needs the same number of support examples; got counts {counts}")
    if labels != sorted(labels):
        x = x[torch.argsort(y, stable=True)]
    return x.reshape(n_way, counts[0], *x.shape[1:])
