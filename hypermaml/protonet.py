"""Prototypical networks (Snell et al., 2017): the metric-learning baseline."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from .backbones import SupportStats
from .base import FewShotModel
from .config import ModelConfig
from .episodes import Episode


@dataclass(frozen=True)
class ProtoTask:
    """ProtoNet's task state: one prototype (mean support embedding) per class, (n_way, d), and the support
    set's moments for batch-independent normalisation (None for the other modes)."""

    prototypes: torch.Tensor
    stats: SupportStats | None = None


class ProtoNet(FewShotModel):
    """logits = -scale * ||embedding(query) - prototype||^2. Works for any n_way and n_shot.

    ``backbone``: ``build_backbone(config.backbone)`` or your own ``nn.Module`` with ``out_dim``
    (``custom_backbone.ModuleBackbone``).
    """

    task_type = ProtoTask

    def __init__(self, config: ModelConfig, backbone: nn.Module) -> None:
        super().__init__(config, backbone)
        self.log_scale = nn.Parameter(torch.tensor(math.log(config.protonet.init_scale)))

    def _reference(self) -> torch.Tensor:
        return self.log_scale

    def adapt(self, support_x: torch.Tensor, support_y: torch.Tensor) -> ProtoTask:
        """(n_support, *input_shape), (n_support,) -> prototypes (n_way, d)."""
        support_x, support_y = self.support_inputs(support_x, support_y)
        n_way = self.check_support(support_x, support_y)
        return self._task(*self.backbone.embed_support(support_x), support_y, n_way)

    def _task(self, features: torch.Tensor, stats: SupportStats | None, support_y: torch.Tensor, n_way: int) -> ProtoTask:
        one_hot = F.one_hot(support_y, n_way).to(features.dtype)  # (n_support, n_way)
        return ProtoTask(one_hot.T @ features / one_hot.sum(0, keepdim=True).T, stats)

    def logits(self, query_x: torch.Tensor, task: ProtoTask) -> torch.Tensor:
        """(n_query_total, n_way) negative scaled squared distances."""
        query_x = self.query_inputs(query_x, task)
        return self._scores(self.backbone(query_x, stats=task.stats), task)

    def _scores(self, features: torch.Tensor, task: ProtoTask) -> torch.Tensor:
        sq_dist = (features[:, None, :] - task.prototypes[None, :, :]).square().sum(-1)
        return -self.log_scale.exp() * sq_dist

    def meta_loss(self, episode: Episode, epoch: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
        """Query cross-entropy; support and queries embedded in one backbone pass (``embed_episode``)."""
        episode = self.check_episode(episode)
        n_way = self.check_support(episode.support_x, episode.support_y)
        support, query, stats = self.backbone.embed_episode(episode.support_x, episode.query_x)
        logits = self._scores(query, self._task(support, stats, episode.support_y, n_way))
        return F.cross_entropy(logits, episode.query_y), logits
