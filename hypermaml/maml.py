"""MAML (Finn et al., 2017), functional: the inner loop builds new parameter dicts and passes them into a
forward that takes its parameters explicitly. Modules are never patched or swapped, not even for the duration
of a call (``torch.func.functional_call`` does swap, which corrupts a model shared by threads). A user's own
backbone (``custom_backbone.ModuleBackbone``) adapts with ``adapt="all"`` only if its forward takes ``params``."""

from __future__ import annotations

import numbers
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from .backbones import TASK_NORMS, SupportStats
from .base import FewShotModel
from .config import ModelConfig
from .ops.layout import chosen_layout, memory_layout
from .ops.vmap_state import inside_vmap

Params = dict[str, torch.Tensor]


def gradient_steps(
    loss_fn: Callable[[Params], torch.Tensor],
    params: Params,
    steps: int,
    inner_lr: float,
    *,
    differentiable: bool,
    first_order: bool = False,
) -> list[Params]:
    """The one inner loop: ``steps`` plain gradient-descent steps on ``loss_fn``.

    Each step takes the gradient at the *current* fast weights. Used by MAML (training, evaluation, the
    studio) and by HyperMAML's warm-up.

    Args:
        loss_fn: maps a parameter dict to a scalar loss.
        params: the starting point (the meta-initialisation).
        steps: number of steps, a whole number >= 0.
        inner_lr: step size, >= 0.
        differentiable: keep the graph back to ``params`` (meta-training). False detaches every state,
            which is what evaluation wants: no memory held for a backward pass that never comes.
        first_order: with ``differentiable``, treat the inner gradients as constants (FOMAML): the
            meta-gradient then flows through the fast weights by the identity only.

    Returns:
        The trajectory ``[params_0, params_1, ..., params_steps]`` (``params_0`` is ``params``).
    """
    # the one inner loop's own check, for every caller (MAML's adapt, HyperMAML's warm-up): 1.5 or True steps
    # and a negative or NaN rate were taken, or failed deep inside
    if isinstance(steps, bool) or not isinstance(steps, numbers.Integral) or steps < 0:
        raise ValueError(f"steps must be a whole number >= 0, got {steps!r}")
    if isinstance(inner_lr, bool) or not isinstance(inner_lr, numbers.Real) or not inner_lr >= 0:
        raise ValueError(f"inner_lr must be a number >= 0, got {inner_lr!r}")
    if not differentiable:
        params = {k: v.detach() for k, v in params.items()}
    trajectory = [params]
    functional = inside_vmap()
    for _ in range(steps):
        if functional:  # inside torch.func.vmap (a vectorised meta-batch): autograd.grad has no batching rule
            current = params
            grad_dict = torch.func.grad(loss_fn)(current)
            grads = [grad_dict[k] if differentiable and not first_order else grad_dict[k].detach() for k in current]
        else:
            with torch.enable_grad():
                current = {k: v if v.requires_grad else v.detach().requires_grad_() for k, v in params.items()}
                loss = loss_fn(current)
                grads = torch.autograd.grad(loss, list(current.values()), create_graph=differentiable and not first_order)
        params = {k: v - inner_lr * g for (k, v), g in zip(current.items(), grads)}
        if not differentiable:
            params = {k: v.detach() for k, v in params.items()}
        trajectory.append(params)
    return trajectory


@dataclass(frozen=True)
class MAMLTask:
    """MAML's task state: the adapted parameters (names as in ``named_parameters()``) and the step count.

    With ``adapt="head"`` only ``head.weight``/``head.bias`` are present; the backbone stays shared.
    ``stats``: the support set's moments under these parameters, for batch-independent normalisation
    (``metabn``/``tasknorm-i``); None otherwise.
    """

    params: Params
    steps: int
    stats: SupportStats | None = None


class MAML(FewShotModel):
    """A backbone plus a linear head, meta-trained so that a few gradient steps adapt it to a task.

    ``backbone``: ``build_backbone(config.backbone)`` or your own ``nn.Module`` with ``out_dim``
    (``custom_backbone.ModuleBackbone``).
    """

    task_type = MAMLTask

    def __init__(self, config: ModelConfig, backbone: nn.Module) -> None:
        super().__init__(config, backbone)
        if config.maml.adapt == "all" and getattr(self.backbone, "takes_params", True) is False:
            raise ValueError(
                f"MAML with adapt='all' passes fast weights to the backbone, and {type(self.backbone.module).__name__}"
                ".forward takes no params: write forward(self, x, params=None) over torch.nn.functional "
                "(custom_backbone.ModuleBackbone shows how), or use MAMLConfig(adapt='head')"
            )
        self.head = nn.Linear(self.backbone.out_dim, config.n_way)

    def _reference(self) -> torch.Tensor:
        return self.head.weight

    def forward(self, x: torch.Tensor, params: Params | None = None, stats: SupportStats | None = None) -> torch.Tensor:
        """(n, *input_shape) -> (n, n_way) logits under ``params`` (names as in ``named_parameters()``;
        missing ones are the module's own)."""
        p = params or {}
        features = self.backbone(x, _backbone_part(p), stats)
        return self._head(features, p)

    def _head(self, features: torch.Tensor, params: Params) -> torch.Tensor:
        """(n, d) features -> (n, n_way) logits under ``params``' head (the module's own where missing)."""
        return F.linear(features, params.get("head.weight", self.head.weight), params.get("head.bias", self.head.bias))

    def _support_stats(self, support_x: torch.Tensor, params: Params) -> SupportStats | None:
        if self.config.backbone.batch_norm not in TASK_NORMS:
            return None
        return self.backbone.embed_support(support_x, _backbone_part(params))[1]

    def _adapted_names(self) -> list[str]:
        """The parameters the inner loop adapts: the head's, or every trained one (a frozen tensor, such as a
        convolution bias that the normalisation cancels, keeps the module's value)."""
        if self.config.maml.adapt == "head":
            return ["head.weight", "head.bias"]
        return [name for name, p in self.named_parameters() if p.requires_grad]

    def adapt_trajectory(
        self,
        support_x: torch.Tensor,
        support_y: torch.Tensor,
        steps: int | None = None,
        inner_lr: float | None = None,
        *,
        final_stats: bool = True,
    ) -> list[MAMLTask]:
        """Every intermediate task state 0..steps in one inner loop (state 0 is the meta-initialisation).

        Gradients follow PyTorch's grad mode, in training and evaluation mode alike: with gradients enabled
        every state is differentiable with respect to the meta-parameters (second order unless
        ``first_order``); under ``torch.no_grad()`` or ``torch.inference_mode()`` the states hold plain tensors
        (the inner loop still takes its gradients, outside inference mode, on copies of the inputs).

        Args:
            support_x: (n_way * n_shot, *input_shape).
            support_y: (n_way * n_shot,) labels in 0..n_way-1.
            steps: inner steps; default ``train_steps`` in training mode, ``test_steps`` in eval mode.
            inner_lr: step size; default ``inner_lr`` in training mode, ``test_inner_lr`` (if set) in eval mode.
            final_stats: in training, compute the support moments under the final weights (False: the caller
                computes them in its own pass, as ``meta_loss`` does together with the queries; the final
                state's ``stats`` is then None).
        """
        support_x, support_y = self.support_inputs(support_x, support_y)
        if torch.is_inference_mode_enabled():
            # Inference mode switches autograd off, and the inner loop needs it: run it outside, on ordinary
            # copies of the inputs (inference tensors cannot be saved for a backward), without a graph.
            with torch.inference_mode(False), torch.no_grad():
                return self._trajectory(support_x.clone(), support_y.clone(), steps, inner_lr, final_stats)
        return self._trajectory(support_x, support_y, steps, inner_lr, final_stats)

    def _trajectory(
        self, support_x: torch.Tensor, support_y: torch.Tensor, steps: int | None, inner_lr: float | None, final_stats: bool
    ) -> list[MAMLTask]:
        """``adapt_trajectory`` once its inputs passed the edge."""
        cfg = self.config.maml
        self.check_support(support_x, support_y, self.config.n_way)
        steps = (cfg.train_steps if self.training else cfg.test_steps) if steps is None else steps
        if inner_lr is None:
            inner_lr = cfg.test_inner_lr if (not self.training and cfg.test_inner_lr is not None) else cfg.inner_lr
        all_params = dict(self.named_parameters())
        start = {name: all_params[name] for name in self._adapted_names()}
        differentiable = torch.is_grad_enabled()
        # a training step needs the support moments of the final state only (its query loss uses them); anywhere
        # else a caller may predict with any state, so each state gets its own
        every_state = not (self.training and differentiable)
        if cfg.adapt == "head":
            # computed once: the inner loop only touches the head, so every state shares these moments
            features, shared_stats = self.backbone.embed_support(support_x)
            if not differentiable:
                features = features.detach()
                shared_stats = shared_stats.detach() if shared_stats is not None else None

            def loss_fn(p: Params) -> torch.Tensor:
                return F.cross_entropy(F.linear(features, p["head.weight"], p["head.bias"]), support_y)

        else:
            seen: list[SupportStats | None] = []  # the support moments each step's forward computed anyway

            def loss_fn(p: Params) -> torch.Tensor:
                features, stats_ = self.backbone.embed_support(support_x, _backbone_part(p))
                if every_state and stats_ is not None:
                    seen.append(stats_ if differentiable else stats_.detach())
                return F.cross_entropy(self._head(features, p), support_y)

        trajectory = gradient_steps(loss_fn, start, steps, inner_lr, differentiable=differentiable, first_order=cfg.first_order)
        if cfg.adapt == "head":
            stats = [shared_stats] * len(trajectory)
        elif not every_state:  # a training step: only the final state's moments are used (by the query loss)
            stats = [None] * (len(trajectory) - 1)
            stats.append(self._support_stats(support_x, trajectory[-1]) if final_stats else None)
        else:  # the support moments under each state's weights, for predicting with any state: those of states
            # 0..steps-1 came with their gradient step's forward; the last state needs one forward more
            with torch.set_grad_enabled(differentiable):
                stats = (
                    [*seen, self._support_stats(support_x, trajectory[-1])]
                    if seen
                    else [self._support_stats(support_x, p) for p in trajectory]
                )
        return [MAMLTask(params=p, steps=i, stats=st) for i, (p, st) in enumerate(zip(trajectory, stats))]

    def adapt(
        self,
        support_x: torch.Tensor,
        support_y: torch.Tensor,
        steps: int | None = None,
        inner_lr: float | None = None,
    ) -> MAMLTask:
        """The task state after ``steps`` inner steps (any k >= 0; 0 = the meta-initialisation)."""
        return self.adapt_trajectory(support_x, support_y, steps, inner_lr)[-1]

    def logits(self, query_x: torch.Tensor, task: MAMLTask) -> torch.Tensor:
        """(n_query_total, n_way) logits of the adapted model."""
        return self(self.query_inputs(query_x, task), task.params, task.stats)

    def meta_loss(self, episode, epoch: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
        """Query cross-entropy after the inner loop. The memory layout is chosen per phase from measurements
        (``benchmarks/micro/layout.py``): a second-order training step, whose convolutions' double backward is faster
        in the standard layout, runs in it as a whole (inner loop and query pass: 10-20% faster at 5 inner steps
        on these CPUs; splitting the phases measured slower); first order, evaluation and the other methods run
        in channels-last, the module's own. A layout a caller chose (``memory_layout``) wins."""
        cfg = self.config.maml
        episode = self.check_episode(episode)
        second_order = self.training and torch.is_grad_enabled() and not cfg.first_order and cfg.adapt == "all"
        if second_order and cfg.train_steps > 0 and chosen_layout() is None:
            with memory_layout(torch.contiguous_format):
                return self._meta_loss(episode)
        return self._meta_loss(episode)

    def _meta_loss(self, episode) -> tuple[torch.Tensor, torch.Tensor]:
        """Training with all weights adapted and a task normalisation: the inner loop, then ONE backbone pass
        over the support and the queries under the adapted weights (``embed_episode``), which gives the support
        moments that normalise the queries and the query features together. Otherwise ``adapt`` then
        ``logits``."""
        joint = self.config.backbone.batch_norm in TASK_NORMS and self.config.maml.adapt == "all"
        if not (joint and self.training and torch.is_grad_enabled()):
            return super().meta_loss(episode)
        params = self.adapt_trajectory(episode.support_x, episode.support_y, final_stats=False)[-1].params
        query = self.backbone.embed_episode(episode.support_x, episode.query_x, _backbone_part(params))[1]
        logits = self._head(query, params)
        return F.cross_entropy(logits, episode.query_y), logits


def _backbone_part(params: Params) -> Params:
    """``{"backbone.x": t}`` -> ``{"x": t}``: the backbone's share of a model-level parameter dict."""
    return {k[len("backbone.") :]: v for k, v in params.items() if k.startswith("backbone.")}
