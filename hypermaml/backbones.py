"""Feature extractors: the paper's Conv4, and the toy's identity. Each exposes ``out_dim``, the size of the
embedding it returns, and ``input_shape``, the shape of one input it accepts.

Conv4, the backbone of MAML (Finn et al., 2017) and of the HyperMAML paper: ``n_blocks`` (4) blocks of
[3x3 convolution with ``hidden`` (64) filters, normalisation, ReLU, 2x2 max-pooling], then flatten; a 28 x 28
character becomes 64 numbers (28 -> 14 -> 7 -> 3 -> 1 pixels), an 84 x 84 colour image 1600.

Every forward here is *functional*: it reads the module's tensors (or the ``params`` it is given) and never
writes to the module, not even for the duration of a call. That is what lets one loaded model serve many
threads at once (the studio's visitors), and lets MAML pass its fast weights in.

Normalisation (``BackboneConfig.batch_norm``) decides which statistics a Conv4 block normalises with:

- ``"transductive"``: the batch it is given (support while adapting, the query batch while predicting), as
  MAML and the HyperMAML paper's code do. A query's prediction depends on the other queries.
- ``"running"``: batch statistics in training mode, running averages in eval mode. The running averages
  change only through the explicit training step :meth:`Conv4.update_running_stats`.
- ``"metabn"``: MetaBN (Bronskill et al., 2020): the support set's moments normalise the support set and
  every query. A query's logits depend only on (model, support set, that query).
- ``"tasknorm-i"``: TaskNorm-I (Bronskill et al., 2020): the support moments blended with each image's own
  instance moments, ``alpha = sigmoid(scale * n_support + offset)`` learned per layer. Batch-independent too.

The operations inside a block (the convolutions, the normalisations, the pooling) and their hand-written
derivatives live in ``hypermaml.ops``, each formula stated there; a user's own ``nn.Module`` becomes a backbone
through ``hypermaml.custom_backbone.ModuleBackbone``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from .config import BackboneConfig
from .ops.conv import _conv3x3, _first_layer_metabn, _folds_first_layer
from .ops.layout import chosen_layout
from .ops.layout import memory_layout as memory_layout  # re-exported: docs/speed.md and users name it here
from .ops.norms import _normalise_support, batch_normalise, moments_of, normalise_with
from .ops.pooling import max_pool
from .ops.tasknorm import _tasknorm_moments, _tasknorm_support

Params = Mapping[str, torch.Tensor]

# Normalisations whose query statistics come from the support set (and the image itself), never from the
# other queries of a batch.
TASK_NORMS = ("metabn", "tasknorm-i")
BATCH_INDEPENDENT = ("running", "metabn", "tasknorm-i")


@dataclass(frozen=True)
class SupportStats:
    """The support set's per-channel moments at every normalisation layer, carried in a task state.

    ``moments[i]`` is ``(mean, var)`` of layer ``i``, each of shape (C,); ``n_support`` is the support size
    (TaskNorm-I's blend depends on it).
    """

    moments: tuple[tuple[torch.Tensor, torch.Tensor], ...]
    n_support: int

    def detach(self) -> SupportStats:
        return SupportStats(tuple((m.detach(), v.detach()) for m, v in self.moments), self.n_support)


class Standardize(nn.Module):
    """(x - mean) / std with constants stored as buffers, so a checkpoint carries its preprocessing.

    ``mean``/``std`` are per channel for images (broadcast over H, W) and per coordinate for vectors.
    """

    def __init__(self, mean: tuple[float, ...], std: tuple[float, ...], image: bool) -> None:
        super().__init__()
        shape = (1, len(mean), 1, 1) if image else (1, len(mean))
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32).view(shape))
        self.register_buffer("std", torch.tensor(std, dtype=torch.float32).view(shape))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean) / self.std


class WithoutSupportStats:
    """For backbones whose features need no statistics of the support set: ``embed_support`` and
    ``embed_episode`` call the backbone's forward (support and queries separately) and return no statistics."""

    def embed_support(self, x: torch.Tensor, params: Params | None = None) -> tuple[torch.Tensor, SupportStats | None]:
        """The support set's features (n_support, out_dim) and no statistics (None)."""
        return self(x, params), None

    def embed_episode(
        self, support_x: torch.Tensor, query_x: torch.Tensor, params: Params | None = None
    ) -> tuple[torch.Tensor, torch.Tensor, SupportStats | None]:
        """Support and query features, from two calls, and no statistics."""
        return self(support_x, params), self(query_x, params), None


class IdentityBackbone(WithoutSupportStats, nn.Module):
    """The toy's "no backbone": standardised raw coordinates, (n, d) -> (n, d). It has no parameters."""

    def __init__(self, cfg: BackboneConfig) -> None:
        super().__init__()
        self.standardize = Standardize(cfg.input_mean, cfg.input_std, image=False)
        self.out_dim = len(cfg.input_mean)
        self.input_shape = (self.out_dim,)  # what one input is; the methods check inputs against it
        self.batch_norm = cfg.batch_norm
        self.config = cfg

    def forward(self, x: torch.Tensor, params: Params | None = None, stats: SupportStats | None = None) -> torch.Tensor:
        if x.dim() != 2 or x.shape[1] != self.out_dim:
            raise ValueError(f"expected inputs of shape (n, {self.out_dim}) (this model's backbone), got {tuple(x.shape)}")
        return self.standardize(x)


class Conv4(nn.Module):
    """The paper's Conv4: ``n_blocks`` x [conv3x3(hidden), norm, ReLU, maxpool2], then flatten.

    (n, in_channels, image_size, image_size) -> (n, out_dim), ``out_dim = hidden * (image_size //
    2**n_blocks)**2``: (n, 1, 28, 28) -> (n, 64) for the Omniglot/EMNIST characters (28 -> 14 -> 7 -> 3 -> 1),
    (n, 3, 84, 84) -> (n, 1600) for the paper's miniImageNet and CUB (84 -> 42 -> 21 -> 10 -> 5). Inputs of
    another shape are refused (``BackboneConfig.in_channels`` and ``image_size`` say which).

    Parameters keep ``nn.Conv2d``/``nn.BatchNorm2d`` names (``features.{4i}.weight``, ``features.{4i+1}.bias``,
    ...) so checkpoints stay loadable; the forward is functional over them. Its memory layout follows its
    own convolution weights: ``model.to(memory_format=torch.contiguous_format)`` switches it to NCHW.
    """

    def __init__(self, cfg: BackboneConfig, *, channels_last: bool = True) -> None:
        super().__init__()
        self.config = cfg
        self.standardize = Standardize(cfg.input_mean, cfg.input_std, image=True)
        self.batch_norm = cfg.batch_norm
        track = cfg.batch_norm == "running"
        layers: list[nn.Module] = []
        channels = cfg.in_channels
        for _ in range(cfg.n_blocks):
            layers += [
                nn.Conv2d(channels, cfg.hidden, 3, padding=1),
                nn.BatchNorm2d(cfg.hidden, track_running_stats=track),
                nn.ReLU(),
                nn.MaxPool2d(2),
            ]
            channels = cfg.hidden
        self.features = nn.Sequential(*layers)
        # Every normalisation but running statistics in evaluation subtracts a per-channel mean of the very
        # activations it normalises (the batch's, the support set's, each image's blended with the support's), so
        # a per-channel convolution bias cancels exactly: it is not added (the matrix product of the first layer
        # then skips broadcasting it over every pixel, and no backward reduces a gradient for it, which is zero)
        # and not trained. The parameters stay, so checkpoints keep their layout and load either way.
        self._conv_bias = cfg.batch_norm == "running"
        if not self._conv_bias:
            for layer in layers[::4]:
                layer.bias.requires_grad_(False)
        if cfg.batch_norm == "tasknorm-i":
            # Per layer (scale, offset) of alpha = sigmoid(scale * n_support + offset). Starting at
            # sigmoid(2) = 0.88 puts most weight on the support moments, the statistics the transductive
            # and MetaBN models normalise with, while every image already contributes its own.
            self.tasknorm = nn.Parameter(torch.tensor([[0.0, 2.0]] * cfg.n_blocks))
        if channels_last:
            # Channels-last (NHWC) makes oneDNN's convolutions about twice as fast on CPU; results equal NCHW
            # up to float rounding (benchmarks/speed.py --memory-format compares).
            self.features.to(memory_format=torch.channels_last)
        self.in_channels = cfg.in_channels
        self.n_blocks = cfg.n_blocks
        self.eps = 1e-5
        self.input_shape = (cfg.in_channels, cfg.image_size, cfg.image_size)  # one image; checked on every call
        side = cfg.image_size
        for _ in range(cfg.n_blocks):
            side //= 2
        self.out_dim = cfg.hidden * side * side

    @property
    def memory_format(self) -> torch.memory_format:
        w = self.features[4 * (self.n_blocks - 1)].weight  # hidden -> hidden: never ambiguous like 1 channel
        return (
            torch.channels_last
            if w.is_contiguous(memory_format=torch.channels_last) and not w.is_contiguous()
            else torch.contiguous_format
        )

    def _check(self, x: torch.Tensor) -> None:
        if x.dim() != 4 or x.shape[1:] != self.input_shape:
            c, h, w = self.input_shape
            raise ValueError(f"expected images of shape (n, {c}, {h}, {w}) (this model's backbone), got {tuple(x.shape)}")

    def forward(self, x: torch.Tensor, params: Params | None = None, stats: SupportStats | None = None) -> torch.Tensor:
        """Embed images: (n, C, H, W) -> (n, out_dim).

        Args:
            x: raw images.
            params: tensors to use instead of the module's parameters (same names as ``named_parameters()``;
                missing names fall back to the module's), e.g. MAML's fast weights.
            stats: the support set's moments (from :meth:`embed_support`). Required for ``metabn`` and
                ``tasknorm-i`` unless ``x`` *is* the support set; ignored by the other modes.
        """
        return self._run(x, params, stats)[0]

    def embed_support(self, x: torch.Tensor, params: Params | None = None) -> tuple[torch.Tensor, SupportStats | None]:
        """Embed the support set and return its moments for normalising queries (None where not needed)."""
        return self._run(x, params, None)

    def embed_episode(
        self, support_x: torch.Tensor, query_x: torch.Tensor, params: Params | None = None
    ) -> tuple[torch.Tensor, torch.Tensor, SupportStats | None]:
        """Support and query embeddings and the support's moments: ``embed_support`` then ``forward``, the same
        numbers up to float rounding. With a batch-independent normalisation (``metabn``, ``tasknorm-i``) in ONE
        pass over ``cat(support, query)``, the statistics taken from the support rows alone: every convolution
        runs once on a larger batch and the support is not embedded twice (MAML's final step needs its moments
        under the adapted weights). The other modes normalise the query batch with its own statistics, so they
        take two passes. Returns (support features, query features, stats)."""
        if self.batch_norm not in TASK_NORMS:
            support, stats = self._run(support_x, params, None)
            return support, self._run(query_x, params, stats)[0], stats
        self._check(query_x)
        n = len(support_x)
        h, stats = self._run(torch.cat([support_x, query_x]), params, None, n_support=n)
        return h[:n], h[n:], stats

    def _run(self, x: torch.Tensor, params: Params | None, stats: SupportStats | None, n_support: int | None = None):
        """The forward. ``stats`` None with a task normalisation: the support's moments are collected, from the
        first ``n_support`` rows of ``x`` (default: all of them), and normalise every row."""
        self._check(x)
        p = self._parameter_dict(params)
        mode = self.batch_norm
        collect = mode in TASK_NORMS and stats is None
        moments: list[tuple[torch.Tensor, torch.Tensor]] = []
        if stats is not None:
            n_support = stats.n_support
        elif n_support is None:
            n_support = len(x)
        own = self.memory_format
        fmt = chosen_layout() or own
        h = self.standardize(x).contiguous(memory_format=fmt)
        for i in range(self.n_blocks):
            conv, bn = f"features.{4 * i}", f"features.{4 * i + 1}"
            weight = p[f"{conv}.weight"]
            if fmt != own:  # a convolution answers in channels-last when its weight is: the weight follows too
                weight = weight.contiguous(memory_format=fmt)
            conv_bias = p[f"{conv}.bias"] if self._conv_bias else None
            layer = (weight, conv_bias, p[f"{bn}.weight"], p[f"{bn}.bias"])
            if i == 0 and mode == "metabn" and not collect and _folds_first_layer(h, layer, fmt):
                h = _first_layer_metabn(h, *layer, *stats.moments[0], self.eps)
                h = max_pool(h).relu_()
                continue
            h = _conv3x3(h, weight, conv_bias, fmt)
            weight, bias = p[f"{bn}.weight"], p[f"{bn}.bias"]
            if mode == "transductive" or (mode == "running" and self.training):
                h = batch_normalise(h, weight, bias, self.eps)
            elif mode == "running":
                bn_module = self.features[4 * i + 1]
                h = F.batch_norm(h, bn_module.running_mean, bn_module.running_var, weight, bias, training=False, eps=self.eps)
            elif collect:  # MetaBN or TaskNorm-I: the support rows' moments normalise every row
                h, mean, var = (
                    _normalise_support(h, weight, bias, n_support, self.eps)
                    if mode == "metabn"
                    else _tasknorm_support(h, weight, bias, self._alpha(p, i, n_support), n_support, self.eps)
                )
                moments.append((mean, var))
            else:  # MetaBN or TaskNorm-I with the support's moments given (a query batch)
                mean, var = (t.view(1, -1, 1, 1) for t in stats.moments[i])
                if mode == "tasknorm-i":  # blended with each image's own
                    mean, var = _tasknorm_moments(h, self._alpha(p, i, n_support), n_support, (mean, var))[5:]
                h = normalise_with(h, mean, var, weight, bias, self.eps)
            h = max_pool(h).relu_()  # in place: the pooling keeps its input, not its output
        out_stats = SupportStats(tuple(moments), n_support) if collect else None
        return h.flatten(1), out_stats

    def _parameter_dict(self, params: Params | None) -> Params:
        """``dict(self.named_parameters())`` updated with ``params``, read straight from the layers: walking
        the module tree for it took 60 us, a few percent of adapting a 1-shot task."""
        own: Params = {
            f"features.{j}.{name}": t for j, layer in enumerate(self.features) for name, t in layer._parameters.items()
        }
        if self.batch_norm == "tasknorm-i":
            own["tasknorm"] = self.tasknorm
        return own if params is None else {**own, **params}

    @staticmethod
    def _alpha(p: Params, i: int, n_support: int) -> torch.Tensor:
        """TaskNorm-I's blend weight at layer ``i``: ``sigmoid(scale * n_support + offset)``, a 0-dim tensor."""
        scale, offset = p["tasknorm"][i]
        return torch.sigmoid(scale * n_support + offset)

    @torch.no_grad()
    def update_running_stats(self, x: torch.Tensor, params: Params | None = None, momentum: float = 0.1) -> None:
        """The one place running statistics change (``batch_norm="running"``, a training step): fold the
        moments of batch ``x`` into the running averages, as ``nn.BatchNorm2d`` does in training mode."""
        if self.batch_norm != "running":
            raise ValueError(f"update_running_stats needs batch_norm='running', this backbone uses {self.batch_norm!r}")
        self._check(x)
        p = self._parameter_dict(params)
        h = self.standardize(x).contiguous(memory_format=self.memory_format)
        for i in range(self.n_blocks):
            conv, bn = f"features.{4 * i}", f"features.{4 * i + 1}"
            h = F.conv2d(h, p[f"{conv}.weight"], p[f"{conv}.bias"], padding=1)
            mean, var = (m.flatten() for m in moments_of(h, (0, 2, 3)))
            n = h.numel() / h.shape[1]
            module = self.features[4 * i + 1]
            module.running_mean.lerp_(mean, momentum)
            module.running_var.lerp_(var * n / max(n - 1, 1), momentum)
            module.num_batches_tracked += 1
            h = F.batch_norm(h, None, None, p[f"{bn}.weight"], p[f"{bn}.bias"], training=True, eps=self.eps)
            h = F.relu(max_pool(h))


def build_backbone(cfg: BackboneConfig) -> nn.Module:
    if cfg.kind == "identity":
        return IdentityBackbone(cfg)
    if cfg.kind == "conv4":
        return Conv4(cfg)
    raise ValueError(f"unknown backbone kind {cfg.kind!r}; choose 'identity' or 'conv4'")
