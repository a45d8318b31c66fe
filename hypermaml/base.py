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
        if support_y.dim() != 1 or len(support_y) != len(support_x):
            raise ValueError(
                f"support_y must be a 1-D tensor with one label per support example; got shape "
                f"{tuple(support_y.shape)} for {len(support_x)} examples"
            )
        if support_y.dtype not in (torch.int64, torch.int32, torch.int16, torch.uint8):
            raise TypeError(f"support_y must hold integer labels, got {support_y.dtype}")
        counts = torch.bincount(support_y.long())
        found = len(counts)
        if n_way is not None and found != n_way:
            raise ValueError(f"this model was built for n_way={n_way}; the support labels span {found} classes")
        if bool((counts == 0).any()) or int(support_y.min()) < 0:
            missing = [i for i, c in enumerate(counts.tolist()) if c == 0]
            raise ValueError(f"labels must be 0..n_way-1 with every class present; missing classes {missing}")
        return found


def split_by_class(x: torch.Tensor, y: torch.Tensor, n_way: int) -> torch.Tensor:
    """Group rows of ``x`` by label: (n, ...) -> (n_way, n_per_class, ...); classes must be the same size."""
    counts = torch.bincount(y, minlength=n_way)
    if bool((counts != counts[0]).any()):
        raise ValueError(f"every class needs the same number of support examples; got counts {counts.tolist()}")
    order = torch.argsort(y, stable=True)
    return x[order].reshape(n_way, int(counts[0]), *x.shape[1:])
