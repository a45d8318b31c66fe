"""HyperMAML (Przewiezlikowski et al., 2022): a hypernetwork predicts the classifier update in one pass."""

from __future__ import annotations

from dataclasses import dataclass, replace

import torch
import torch.nn.functional as F
from torch import nn

from .backbones import SupportStats
from .base import FewShotModel, split_by_class
from .config import ModelConfig
from .episodes import Episode
from .hypernet import HyperNet
from .maml import gradient_steps


@dataclass(frozen=True)
class HyperTask:
    """HyperMAML's task state: the base classifier theta and the update delta.

    The task classifier is ``theta + alpha * delta``; ``alpha=1`` is HyperMAML, ``alpha=0`` the base
    classifier. Shapes: weight/delta_weight (n_way, d), bias/delta_bias (n_way,). ``stats``: the support
    set's moments for batch-independent normalisation (None for the other modes).
    """

    weight: torch.Tensor
    bias: torch.Tensor
    delta_weight: torch.Tensor
    delta_bias: torch.Tensor
    alpha: float = 1.0
    stats: SupportStats | None = None

    def with_alpha(self, alpha: float) -> HyperTask:
        return replace(self, alpha=alpha)

    @property
    def adapted_weight(self) -> torch.Tensor:
        return self.weight + self.alpha * self.delta_weight

    @property
    def adapted_bias(self) -> torch.Tensor:
        return self.bias + self.alpha * self.delta_bias


def maml_weight(epoch: int, warmup_epochs: int, blend_epochs: int) -> float:
    """The warm-up schedule: the weight p of the MAML update in epoch ``epoch`` (0-based).

    1 for the first ``warmup_epochs``; then falling linearly over ``blend_epochs`` epochs (never
    reaching 0 inside the blend, e.g. 2/3, 1/3 for two epochs); 0 afterwards.
    """
    if epoch < warmup_epochs:
        return 1.0
    return max(0.0, 1.0 - (epoch - warmup_epochs + 1) / (blend_epochs + 1))


class HyperMAML(FewShotModel):
    """Backbone + base linear classifier theta + hypernetwork producing delta theta from the support set.

    ``backbone``: ``build_backbone(config.backbone)`` or your own ``nn.Module`` with ``out_dim``
    (``custom_backbone.ModuleBackbone``).
    """

    task_type = HyperTask

    def __init__(self, config: ModelConfig, backbone: nn.Module) -> None:
        super().__init__(config, backbone)
        d, n_way, hcfg = self.backbone.out_dim, config.n_way, config.hypermaml
        self.head = nn.Linear(d, n_way)
        # One enhanced support example: its embedding, the base classifier's softmax output, and its label
        # one-hot. One-hot, not an integer, because labels are categories: an integer would tell the
        # network that class 4 is "more" than class 1, and the one-hot lines up with the softmax so the
        # hypernetwork can compare prediction and truth entry by entry (the information a gradient uses).
        enhanced = d + 2 * n_way
        in_dim = enhanced * (config.n_shot if hcfg.aggregation == "concat" else 1)
        self.hypernet = HyperNet(in_dim, d, hcfg.hidden, hcfg.n_hidden_layers, hcfg.linear_skip)

    def _reference(self) -> torch.Tensor:
        return self.head.weight

    def hypernet_inputs(self, features: torch.Tensor, support_y: torch.Tensor) -> torch.Tensor:
        """Enhanced support embeddings aggregated per class: (n_support, d) -> (n_way, in_dim)."""
        n_way = self.config.n_way
        probs = F.linear(features, self.head.weight, self.head.bias).softmax(-1)
        # (n_support, n_way) rows of the identity: F.one_hot's range check and dtype copy took 7 operations here
        one_hot = torch.eye(n_way, dtype=features.dtype, device=features.device)[support_y]
        enhanced = torch.cat([features, probs, one_hot], dim=1)
        if self.config.hypermaml.aggregation == "mean":  # classes may differ in size
            return (one_hot.T @ enhanced) / one_hot.sum(0)[:, None]
        per_class = split_by_class(enhanced, support_y, n_way)  # (n_way, n_shot, d_enh)
        if per_class.shape[1] != self.config.n_shot:
            raise ValueError(
                f"this HyperMAML concatenates {self.config.n_shot} shot(s) per class; the support set has "
                f"{per_class.shape[1]} per class (use a model trained with aggregation='mean' for any n_shot)"
            )
        return per_class.flatten(1)

    def adapt(self, support_x: torch.Tensor, support_y: torch.Tensor, maml_weight: float = 0.0) -> HyperTask:
        """One hypernetwork pass: support set -> (theta, delta theta).

        Args:
            support_x: (n_way * n_shot, *input_shape).
            support_y: (n_way * n_shot,) labels in 0..n_way-1.
            maml_weight: p in the warm-up blend delta = p * delta_MAML + (1 - p) * delta_hypernet; 0 at
                test time.
        """
        support_x, support_y = self.support_inputs(support_x, support_y)
        if maml_weight > 0.0 and torch.is_inference_mode_enabled():
            # the warm-up's gradient steps need autograd, which inference mode switches off: run them outside it,
            # on ordinary copies of the inputs, without a graph
            with torch.inference_mode(False), torch.no_grad():
                return self.adapt(support_x.clone(), support_y.clone(), maml_weight)
        self.check_support(support_x, support_y, self.config.n_way)
        return self._task(*self.backbone.embed_support(support_x), support_y, maml_weight)

    def _task(self, features: torch.Tensor, stats: SupportStats | None, support_y: torch.Tensor, maml_weight: float) -> HyperTask:
        """The task state from the support embeddings (``adapt`` after its backbone pass)."""
        delta_w = delta_b = None  # p = 0 (test time, after the warm-up): the hypernetwork's update, no arithmetic
        if maml_weight < 1.0:
            delta_w, delta_b = self.hypernet(self.hypernet_inputs(features, support_y))
            if maml_weight > 0.0:
                delta_w, delta_b = (1.0 - maml_weight) * delta_w, (1.0 - maml_weight) * delta_b
        if maml_weight > 0.0:
            hcfg = self.config.hypermaml

            def loss_fn(p: dict[str, torch.Tensor]) -> torch.Tensor:
                return F.cross_entropy(F.linear(features, p["weight"], p["bias"]), support_y)

            start = {"weight": self.head.weight, "bias": self.head.bias}
            grad = torch.is_grad_enabled()  # gradients follow the grad mode, as every method's (FewShotModel)
            end = gradient_steps(loss_fn, start, hcfg.warmup_steps, hcfg.warmup_inner_lr, differentiable=grad)[-1]
            maml_w = maml_weight * (end["weight"] - self.head.weight)
            maml_b = maml_weight * (end["bias"] - self.head.bias)
            delta_w, delta_b = (maml_w, maml_b) if delta_w is None else (delta_w + maml_w, delta_b + maml_b)
        weight, bias = self.head.weight, self.head.bias
        if not torch.is_grad_enabled():  # a task made without gradients holds no tensor that requires them
            weight, bias = weight.detach(), bias.detach()
        return HyperTask(weight, bias, delta_w, delta_b, stats=stats)

    def logits(self, query_x: torch.Tensor, task: HyperTask) -> torch.Tensor:
        """(n_query_total, n_way) logits of the classifier theta + alpha * delta."""
        query_x = self.query_inputs(query_x, task)
        return F.linear(self.backbone(query_x, stats=task.stats), task.adapted_weight, task.adapted_bias)

    def meta_loss(self, episode: Episode, epoch: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
        """Query cross-entropy (+ lambda * ||delta||^2), with the warm-up blend of ``epoch``."""
        hcfg = self.config.hypermaml
        p = maml_weight(epoch, hcfg.warmup_epochs, hcfg.blend_epochs) if self.training else 0.0
        episode = self.check_episode(episode)
        self.check_support(episode.support_x, episode.support_y, self.config.n_way)
        support, query, stats = self.backbone.embed_episode(episode.support_x, episode.query_x)  # one pass
        task = self._task(support, stats, episode.support_y, p)
        logits = F.linear(query, task.adapted_weight, task.adapted_bias)  # = self.logits(query_x, task)
        loss = F.cross_entropy(logits, episode.query_y)
        if hcfg.delta_penalty > 0:
            loss = loss + hcfg.delta_penalty * (task.delta_weight.square().sum() + task.delta_bias.square().sum())
        return loss, logits
