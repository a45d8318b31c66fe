"""What every few-shot method shares: the adapt/logits contract and input validation."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .config import ModelConfig
from .episodes import Episode


class FewShotModel(nn.Module):
    """Base class. Subclasses implement ``adapt`` (support set -> task state) and ``logits``.

    ``adapt`` is pure: it never changes the model's parameters or buffers, so one model can be shared by
    many callers (the studio caches one per process).
    """

    def __init__(self, config: ModelConfig, backbone: nn.Module) -> None:
        super().__init__()
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
        task = self.adapt(episode.support_x, episode.support_y)
        logits = self.logits(episode.query_x, task)
        return F.cross_entropy(logits, episode.query_y), logits

    def check_support(self, support_x: torch.Tensor, support_y: torch.Tensor, n_way: int | None = None) -> int:
        """Validate a support set; returns its n_way. Labels must be 0..n_way-1, every class present."""
        return len(support_counts(support_x, support_y, n_way))


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
    counts = [0] * (max(labels) + 1)
    for label in labels:
        counts[label] += 1
    if n_way is not None and len(counts) != n_way:
        raise ValueError(f"this model was built for n_way={n_way}; the support labels span {len(counts)} classes")
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
