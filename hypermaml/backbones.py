"""Feature extractors. Each exposes ``out_dim``, the size of the embedding it returns.

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
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from .config import BackboneConfig
from .vectorise import inside_vmap

Params = Mapping[str, torch.Tensor]

# Normalisations whose query statistics come from the support set (and the image itself), never from the
# other queries of a batch.
TASK_NORMS = ("metabn", "tasknorm-i")
BATCH_INDEPENDENT = ("running", "metabn", "tasknorm-i")


# The memory layout a Conv4 forward computes in, when a caller chooses one for a phase (``memory_layout``);
# None: the module's own (that of its weights). A context variable, not a module attribute: a choice made by
# one thread (or one vectorised meta-batch) never changes what another sees.
_LAYOUT: ContextVar[torch.memory_format | None] = ContextVar("hypermaml_conv4_layout", default=None)


@contextmanager
def memory_layout(fmt: torch.memory_format | None) -> Iterator[None]:
    """Run the Conv4 forwards inside the block in layout ``fmt`` (``torch.channels_last`` or
    ``torch.contiguous_format``), whatever the module's own; None keeps the module's. The results are the same
    function up to float rounding; only the speed differs (``benchmarks/speed.py``). Used per method and phase,
    e.g. inside ``torch.func.vmap``, which supports only the standard layout."""
    token = _LAYOUT.set(fmt)
    try:
        yield
    finally:
        _LAYOUT.reset(token)


def chosen_layout() -> torch.memory_format | None:
    """The layout a caller chose with ``memory_layout`` for this thread or context (None: none chosen)."""
    return _LAYOUT.get()


def moments_of(h: torch.Tensor, dims: tuple[int, ...]) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean and biased variance over ``dims`` (kept as size-1 dims), in two passes: the centred square.

    Equal to ``torch.var_mean(h, dims, correction=0)`` up to float rounding, and 4-8x faster on CPU for these
    shapes, where ``var_mean``'s one-pass kernel took a third of MAML's inner loop.
    """
    mean = h.mean(dims, keepdim=True)
    return mean, (h - mean).square().mean(dims, keepdim=True)


def normalise_with(
    h: torch.Tensor, mean: torch.Tensor, var: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor, eps: float
) -> torch.Tensor:
    """``(h - mean) * weight / sqrt(var + eps) + bias`` in one pass over ``h`` (n, C, H, W); ``mean`` and ``var``
    broadcast to it ((1, C, 1, 1) or per image (n, C, 1, 1)), ``weight`` and ``bias`` are (C,)."""
    return _scale_shift(h, mean, torch.rsqrt(var + eps), weight, bias)


def _scale_shift(
    h: torch.Tensor, mean: torch.Tensor, invstd: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor
) -> torch.Tensor:
    """``(h - mean) * invstd * weight + bias`` as one ``addcmul`` over ``h``: ``normalise_with`` once 1/sqrt(var +
    eps) is known (the autograd Functions below keep it for their backward)."""
    scale = weight.view(1, -1, 1, 1) * invstd
    return torch.addcmul(bias.view(1, -1, 1, 1) - mean * scale, h, scale)


def batch_normalise(h: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor, eps: float) -> torch.Tensor:
    """Batch norm with the batch's own moments, (n, C, H, W) -> (n, C, H, W): PyTorch's fused kernel, except
    inside ``torch.func.vmap``, where its batching rule gave second derivatives (MAML's meta-gradient) off by
    1e-4 even in float64; the same formula written out matches the loop there to 1e-15."""
    if not inside_vmap():
        return F.batch_norm(h, None, None, weight, bias, training=True, eps=eps)
    return normalise_with(h, *moments_of(h, (0, 2, 3)), weight, bias, eps)


def _normalise_support(
    h: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor, k: int, eps: float
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """MetaBN: every row of ``h`` (n, C, H, W) normalised with the moments of its first ``k`` rows (the support
    set); returns (out, mean, var), mean and var of shape (C,), the support's moments for later queries.

    - the support set alone (``k == n``) without autograd: one fused kernel gives both (``native_batch_norm``
      returns the mean and 1/sqrt(var + eps) it used);
    - the support alone with autograd: the moments computed apart (they carry gradients to the queries they
      normalise), the fused kernel normalises (its backward is the fastest);
    - support and queries together (``k < n``, a training episode in one pass): ``_NormaliseBySupport``;
    - inside ``vmap``: the formula written out (an ``autograd.Function`` has no batching rule here).
    """
    if inside_vmap():
        mean, var = moments_of(h[:k], (0, 2, 3))
        return normalise_with(h, mean, var, weight, bias, eps), mean.flatten(), var.flatten()
    if k < len(h):
        return _NormaliseBySupport.apply(h, weight, bias, k, eps)
    if torch.is_grad_enabled() and (h.requires_grad or weight.requires_grad or bias.requires_grad):
        mean, var = moments_of(h, (0, 2, 3))
        return batch_normalise(h, weight, bias, eps), mean.flatten(), var.flatten()
    out, mean, invstd = torch.native_batch_norm(h, weight, bias, None, None, True, 0.0, eps)
    return out, mean, invstd.pow(-2).sub_(eps).clamp_min_(0)


def _conv3x3(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None, fmt: torch.memory_format) -> torch.Tensor:
    """A Conv4 convolution, (n, C_in, H, W) -> (n, C_out, H, W) in layout ``fmt``.

    A one-channel input is "contiguous" in both layouts, and the convolution then answers in the standard one,
    where the pooling after it runs ten times slower: the layout is said explicitly. With one input channel it
    runs as a matrix product (``_conv3x3_one_channel``) where ``benchmarks/first_layer.py`` measured that
    faster than oneDNN's convolution on these CPUs (5, 25, 100 images; ``docs/first_layer.json``):

    - channels-last, the product: without autograd (adaptation, evaluation, the studio) 2.0-2.1x faster; with
      autograd (training) 2.5-2.7x in the backward and 2.1-2.3x in the double backward (one product per image
      over the patches' transpose; the earlier single product over copied pixel rows had a slower weight
      gradient, 0.65x at 100 images, and training kept the convolution);
    - the standard layout with autograd (second-order MAML training, the one user of that layout here): the
      product, 1.6-2.0x faster in the backward and 1.7-1.9x in the double backward;
    - the standard layout without autograd: the convolution (the product 0.9-1.1x at 5-25 images, 0.9x at 100).

    Never inside ``vmap`` (its convolution rule suffices) or off the CPU.
    """
    if x.shape[1] == 1 and not inside_vmap() and weight.device.type == "cpu":
        if fmt == torch.channels_last or (torch.is_grad_enabled() and weight.requires_grad):
            return _conv3x3_one_channel(x, weight, bias, fmt)
    return F.conv2d(x, weight, bias, padding=1).contiguous(memory_format=fmt)


def _conv3x3_one_channel(
    x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None, fmt: torch.memory_format
) -> torch.Tensor:
    """``F.conv2d(x, weight, bias, padding=1)`` for a one-channel input, (n, 1, H, W) -> (n, C, H, W) in layout
    ``fmt``, as a matrix product of the 3x3 patches (``F.unfold``, n*H*W of 9 values) with the (C, 9) weight:
    one product per image in either layout (``bmm``; channels-last over the patches' transpose, pixels as rows;
    the standard layout straight into that layout); ``bias`` None: no bias. Equal up to float rounding, and differentiable to any
    order like the convolution."""
    n, _, height, width = x.shape
    out_channels = weight.shape[0]
    patches = F.unfold(x, 3, padding=1)  # (n, 9, H*W)
    w = weight.reshape(out_channels, 9)
    if fmt == torch.channels_last:  # rows are pixels: (n, H*W, C) is channels-last memory
        return _pixels_to_image(_pixel_rows_product(patches, w, bias), x.shape)
    # one (C, 9) x (9, H*W) product per image, straight into (n, C, H*W): the standard layout, no transpose
    w = w.expand(n, -1, -1)
    out = torch.bmm(w, patches) if bias is None else torch.baddbmm(bias.view(1, -1, 1), w, patches)
    return out.view(n, out_channels, height, width)


def _pixel_rows_product(patches: torch.Tensor, w: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
    """Each pixel's 3x3 patch times the (C, 9) weight, plus ``bias`` (C,; None: none): patches (n, 9, H*W) as
    ``F.unfold`` gives them -> (n, H*W, C) pixel rows. One product per image over the patches' transpose, which
    the matrix product reads as it lies (copying the patches into rows first was 16-19% slower at 5-75 images)."""
    rows, w = patches.transpose(1, 2), w.t().expand(len(patches), -1, -1)
    return torch.bmm(rows, w) if bias is None else torch.baddbmm(bias.view(1, 1, -1), rows, w)


def _pixels_to_image(rows: torch.Tensor, shape: torch.Size) -> torch.Tensor:
    """(n, H*W, C) pixel rows -> (n, C, H, W) in channels-last memory, no copy."""
    n, _, height, width = shape
    return rows.view(n, height, width, rows.shape[-1]).permute(0, 3, 1, 2)


def _first_layer_metabn(
    x: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor | None,
    bn_weight: torch.Tensor,
    bn_bias: torch.Tensor,
    mean: torch.Tensor,
    var: torch.Tensor,
    eps: float,
) -> torch.Tensor:
    """A one-channel first convolution followed by MetaBN with given moments (``mean``, ``var``: the support's,
    each (C,)), as one product without autograd, in channels-last: ``normalise_with(_conv3x3(x, ...), ...)``
    for query images (scoring, evaluation, the studio), equal up to float rounding.

    The convolution is a matrix product of each pixel's 3x3 patch with the (C, 9) weight
    (``_conv3x3_one_channel``), and normalising with known moments a per-channel scale and shift, which fold
    into the product's weight and bias: the activations are written once, already normalised, where the
    convolution and the normalisation each passed over them (``benchmarks/first_layer.py``). The support set
    itself keeps the two steps: its moments from the patches' covariance cost as much as the pass they save."""
    scale = bn_weight * torch.rsqrt(var + eps)
    centre = mean if bias is None else mean - bias  # (product + bias) - mean, for the product without the bias
    shift = torch.addcmul(bn_bias, centre, scale, value=-1)
    folded = weight.reshape(len(weight), 9) * scale[:, None]
    return _pixels_to_image(_pixel_rows_product(F.unfold(x, 3, padding=1), folded, shift), x.shape)


def max_pool(h: torch.Tensor) -> torch.Tensor:
    """2x2 max-pooling with stride 2 (odd sizes rounded down), (n, C, H, W) -> (n, C, H // 2, W // 2):
    ``F.max_pool2d(h, 2)``, the same values and the same gradients (ties go to the first element of a window
    in row-major order, as there).

    In the standard layout with even sizes (second-order MAML's training step) ``_MaxPool2x2`` computes it;
    PyTorch's CPU kernel for that layout took 18 ms for a training step's first layer (100 images of 64 x 28
    x 28), where the same pooling in channels-last takes 2. Elsewhere (channels-last, odd sizes, inside
    ``vmap``, off the CPU) ``F.max_pool2d``."""
    n, c, height, width = h.shape
    if c > 1 and height % 2 == 0 and width % 2 == 0 and h.is_contiguous() and h.device.type == "cpu" and not inside_vmap():
        return _MaxPool2x2.apply(h)
    return F.max_pool2d(h, 2)


class _MaxPool2x2(torch.autograd.Function):
    """``F.max_pool2d(h, 2)`` for a standard-layout (n, C, H, W) with even H and W, as elementwise maxima over
    contiguous memory: first the two columns of each window (which also says which won: ties to the left),
    then the two rows (ties to the top), the order of the kernel's row-major scan. The backward rebuilds the
    kernel's flat indices from those two choices and calls its own backward, whose derivative PyTorch
    defines (gradients of gradients, for second-order MAML)."""

    @staticmethod
    def forward(ctx, h):
        n, c, height, width = h.shape
        left, right = h.view(n, c, height, width // 2, 2).unbind(-1)
        right_wins = right > left
        top, bottom = torch.maximum(left, right).view(n, c, height // 2, 2, width // 2).unbind(3)
        bottom_wins = bottom > top
        ctx.save_for_backward(h, right_wins, bottom_wins)
        return torch.maximum(top, bottom)

    @staticmethod
    def backward(ctx, grad):
        h, right_wins, bottom_wins = ctx.saved_tensors
        n, c, half_h, half_w = bottom_wins.shape
        width = 2 * half_w
        top, bottom = right_wins.view(n, c, half_h, 2, half_w).unbind(3)
        column = top ^ (bottom_wins & (top ^ bottom))  # the winning row's column (bitwise: torch.where is slower)
        offset = column.view(torch.uint8).to(torch.int16).add_(bottom_wins.view(torch.uint8), alpha=width)
        corner = torch.arange(half_h).view(-1, 1) * (2 * width) + torch.arange(half_w) * 2  # each window's first
        index = torch.add(corner, offset)  # the kernel's flat index in the H x W plane (int64)
        return torch.ops.aten.max_pool2d_with_indices_backward(grad, h, [2, 2], [2, 2], [0, 0], [1, 1], False, index)


class _NormaliseBySupport(torch.autograd.Function):
    """MetaBN over ``cat(support, query)``: every row of ``h`` normalised with the per-channel moments of its
    first ``k`` rows (the support), ``(h - mean) * weight / sqrt(var + eps) + bias``. Returns (out, mean, var),
    mean and var of shape (C,).

    What autograd would compute from the written-out formula, in fewer passes over the activations: the
    backward is batch norm's (the gradients through the support moments land on the support rows) in four
    passes, where the written-out form took about ten and made the one-pass episode slower than two passes.
    The backward is made of differentiable operations, so gradients of gradients work too. Checked against
    the written-out formula in ``tests/test_joint_pass.py``.
    """

    @staticmethod
    def forward(ctx, h, weight, bias, k: int, eps: float):
        mean, var = moments_of(h[:k], (0, 2, 3))
        invstd = torch.rsqrt(var + eps)
        ctx.save_for_backward(h, weight, mean, invstd)
        ctx.k, ctx.eps = k, eps
        return _scale_shift(h, mean, invstd, weight, bias), mean.flatten(), var.flatten()

    @staticmethod
    def backward(ctx, grad, grad_mean, grad_var):
        h, weight, mean, invstd = ctx.saved_tensors
        k, w = ctx.k, weight.view(1, -1, 1, 1)
        differentiable = torch.is_grad_enabled()
        if differentiable:  # a differentiable backward (create_graph): the moments as functions of h
            mean, var = moments_of(h[:k], (0, 2, 3))
            invstd = torch.rsqrt(var + ctx.eps)
        dot, total = _gradient_sums(grad, h, per_image=False, fused=not differentiable)
        centred = dot - mean * total  # sum of grad * (h - mean)
        grad_h = grad * (w * invstd)
        # the loss through the support moments: d/dmean and d/dvar, then onto the support rows
        d_mean = -invstd * w * total
        d_var = -0.5 * invstd.pow(3) * w * centred
        if grad_mean is not None:
            d_mean = d_mean + grad_mean.view_as(mean)
        if grad_var is not None:
            d_var = d_var + grad_var.view_as(mean)
        support = h[:k]
        count = support.numel() // support.shape[1]
        slope = 2 * d_var / count  # d var / d h_j = 2 (h_j - mean) / count; d mean / d h_j = 1 / count
        if differentiable:
            grad_h = torch.cat([torch.addcmul(grad_h[:k] + (d_mean / count - slope * mean), support, slope), grad_h[k:]])
        else:  # the support rows' terms added in place, where the concatenation copied every row
            grad_h[:k].add_(d_mean / count - slope * mean).addcmul_(support, slope)
        return grad_h, (centred * invstd).flatten(), total.flatten(), None, None


def _gradient_sums(grad: torch.Tensor, h: torch.Tensor, per_image: bool, fused: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """``(sum(grad * h), sum(grad))`` for (n, C, H, W) tensors, per channel ((1, C, 1, 1), MetaBN's backward) or per
    image and channel ((n, C, 1, 1), TaskNorm-I's).

    ``fused``: both sums in one pass over ``grad`` and ``h`` from a normalisation's own backward kernel given
    mean 0 and 1/std 1, whose weight gradient is then sum(grad * h) and bias gradient sum(grad): batch norm's per
    channel (either layout), group norm's per image and channel over a (1, n*C, H, W) view of a standard-layout
    ``h`` (one channel per group). Not differentiable (their second derivatives are not those sums'); otherwise
    plain reductions."""
    n, c, height, width = h.shape
    shape = (n, c, 1, 1) if per_image else (1, c, 1, 1)
    if not fused:
        dims = (2, 3) if per_image else (0, 2, 3)
        return (grad * h).sum(dims, keepdim=True), grad.sum(dims, keepdim=True)
    if per_image:
        rows, flat = n * c, (1, n * c, height, width)
        unit = h.new_ones(rows)
        _, dot, total = torch.ops.aten.native_group_norm_backward(
            grad.contiguous().view(flat),
            h.view(flat),
            h.new_zeros(1, rows),
            unit.view(1, rows),
            unit,
            1,
            rows,
            height * width,
            rows,
            [False, True, True],
        )
    else:
        zero, one = h.new_zeros(c), h.new_ones(c)
        _, dot, total = torch.ops.aten.native_batch_norm_backward(
            grad, h, one, None, None, zero, one, True, 0.0, [False, True, True]
        )
    return dot.view(shape), total.view(shape)


def _tasknorm_moments(
    h: torch.Tensor,
    alpha: torch.Tensor,
    k: int,
    support: tuple[torch.Tensor, torch.Tensor] | None = None,
    own: tuple[torch.Tensor, torch.Tensor] | None = None,
) -> tuple[torch.Tensor, ...]:
    """TaskNorm-I's statistics for ``h`` (n, C, H, W), the support's moments taken from its first ``k`` rows or
    given (``support``: mean and variance, each (1, C, 1, 1)); each image's own moments computed from ``h`` or
    given (``own``: mean and variance, each (n, C, 1, 1)).

    Returns (mean_i, var_i, mean_s, var_s, d, mean, var): each image's moments (n, C, 1, 1), the support's
    (1, C, 1, 1; the total variance of its rows), d = mean_i - mean_s, and each image's blended moments
    ``mean = alpha mean_s + (1 - alpha) mean_i`` and ``var = alpha var_s + (1 - alpha) var_i + alpha (1 - alpha)
    d^2``, the same as ``alpha (var_s + (mean_s - mean)^2) + (1 - alpha) (var_i + (mean_i - mean)^2)``. Only
    the first line reads ``h``; the rest is per image and channel."""
    mean_i, var_i = moments_of(h, (2, 3)) if own is None else own
    if support is None:
        mean_s = mean_i[:k].mean(0, keepdim=True)
        var_s = (var_i[:k] + (mean_i[:k] - mean_s).square()).mean(0, keepdim=True)
    else:
        mean_s, var_s = support
    d = mean_i - mean_s
    mean = mean_s + (1 - alpha) * d
    var = alpha * var_s + (1 - alpha) * var_i + alpha * (1 - alpha) * d.square()
    return mean_i, var_i, mean_s, var_s, d, mean, var


def _tasknorm_support(
    h: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor, alpha: torch.Tensor, k: int, eps: float
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """TaskNorm-I collecting the support moments from the first ``k`` rows of ``h`` (n, C, H, W); returns (out,
    mean_s, var_s), the support's moments of shape (C,). ``_TaskNormI`` (its hand-written backward), or inside
    ``vmap`` (where an ``autograd.Function`` has no batching rule) ``tasknorm_written_out``."""
    if inside_vmap():
        return tasknorm_written_out(h, weight, bias, alpha, k, eps)
    return _TaskNormI.apply(h, weight, bias, alpha, k, eps)


def tasknorm_written_out(
    h: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor, alpha: torch.Tensor, k: int, eps: float
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """What ``_TaskNormI`` computes, as plain operations for autograd to differentiate (inside ``vmap``; and
    ``benchmarks/tasknorm.py`` times the two against each other)."""
    _, _, mean_s, var_s, _, mean, var = _tasknorm_moments(h, alpha, k)
    return normalise_with(h, mean, var, weight, bias, eps), mean_s.flatten(), var_s.flatten()


class _TaskNormI(torch.autograd.Function):
    """TaskNorm-I collecting the support moments: every row of ``h`` (n, C, H, W) normalised with its own
    moments blended with those of the first ``k`` rows (the support set), weight ``alpha`` (a 0-dim tensor),
    then scaled by ``weight`` and shifted by ``bias``. Returns (out, mean_s, var_s), the support moments of
    shape (C,) for later queries.

    The written-out formula (``tasknorm_written_out``) made autograd record about twenty
    operations over the activations per layer, and second-order MAML differentiates that backward again. Here
    the forward reads ``h`` three times and the backward five: two sums per image and channel (of the gradient
    and of gradient times input), then ``grad * a + p + q * h`` with per-image-and-channel ``a, p, q``; the
    chain through the moments is done on (n, C) numbers (``_tasknorm_chain``). A differentiable
    backward (second-order MAML's inner step) is one autograd node, ``_TaskNormIGrad``, whose own backward, the
    second derivative, is written by hand as well. Checked against the written-out formula, with ``gradcheck``
    and ``gradgradcheck``, in ``tests/test_joint_pass.py``.
    """

    @staticmethod
    def forward(ctx, h, weight, bias, alpha, k: int, eps: float):
        ctx.k = k
        ctx.save_for_backward(h, weight, alpha)
        if not _fused_instance_kernels(h):
            mean_i, var_i, mean_s, var_s, d, mean, var = _tasknorm_moments(h, alpha, k)
            invstd = torch.rsqrt(var + eps)
            ctx.moments = (mean_i, var_i, mean_s, var_s, d, invstd)
            return _scale_shift(h, mean, invstd, weight, bias), mean_s.flatten(), var_s.flatten()
        # group norm with one channel per group: each image's moments in one pass, and h - mean_i scaled by
        # 1/sqrt(var_i + eps) ("normed"); the blend only moves the mean and rescales: h - mean = (h - mean_i) +
        # alpha d, so out = normed * w invstd / rstd_i + (w invstd alpha d + bias), written over normed
        n, c, height, width = h.shape
        normed, mean_i, rstd_i = torch.native_group_norm(h, None, None, n, c, height * width, c, eps)
        mean_i, rstd_i = mean_i.view(n, c, 1, 1), rstd_i.view(n, c, 1, 1)
        var_i = rstd_i.pow(-2).sub_(eps).clamp_min_(0)
        _, _, mean_s, var_s, d, _, var = _tasknorm_moments(h, alpha, k, own=(mean_i, var_i))
        invstd = torch.rsqrt(var + eps)
        ctx.moments = (mean_i, var_i, mean_s, var_s, d, invstd)
        scale = weight.view(1, -1, 1, 1) * invstd
        out = torch.addcmul(bias.view(1, -1, 1, 1) + scale * alpha * d, normed, scale / rstd_i, out=normed)
        return out, mean_s.flatten(), var_s.flatten()

    @staticmethod
    def backward(ctx, grad, grad_mean_s, grad_var_s):
        h, weight, alpha = ctx.saved_tensors
        if torch.is_grad_enabled():  # a differentiable backward (create_graph: second-order MAML's inner step)
            return (*_TaskNormIGrad.apply(grad, h, weight, alpha, grad_mean_s, grad_var_s, ctx.moments, ctx.k), None, None)
        dot, total = _gradient_sums(grad, h, per_image=True, fused=_fused_instance_kernels(h))
        chain = _tasknorm_chain(total, dot, ctx.moments, weight, alpha, grad_mean_s, grad_var_s, ctx.k, h[0, 0].numel())
        # grad * a + p + q * h, the second term added in place (one full-size tensor fewer)
        grad_h = torch.addcmul(chain.p, grad, chain.a).addcmul_(h, chain.q)
        return grad_h, chain.grad_weight, chain.grad_bias, chain.grad_alpha, None, None


class _TaskNormChain(NamedTuple):
    """TaskNorm-I's backward on per-image-and-channel numbers (``_tasknorm_chain``): the input gradient is
    ``grad * a + p + q * h`` (a, p, q: (n, C, 1, 1)); then the other inputs' gradients (weight and bias: (C,);
    alpha: 0-dim); then what its vector-Jacobian product (``_tasknorm_chain_vjp``) reuses."""

    a: torch.Tensor
    p: torch.Tensor
    q: torch.Tensor
    grad_weight: torch.Tensor
    grad_bias: torch.Tensor
    grad_alpha: torch.Tensor
    sigma: torch.Tensor  # 1/k for the k support images, else 0: d mean_s / d mean_i
    d: torch.Tensor  # mean_i - mean_s
    invstd: torch.Tensor  # 1 / sqrt(var + eps) of the blended moments
    around: torch.Tensor  # sum of grad * (h - mean)
    d_mean: torch.Tensor  # dL / d(blended mean)
    d_var: torch.Tensor  # dL / d(blended var)
    g_var_s: torch.Tensor  # dL / d var_s, the moments' own gradient included
    blend: torch.Tensor  # d var / d alpha


def _tasknorm_chain(
    total: torch.Tensor,
    dot: torch.Tensor,
    moments: tuple[torch.Tensor, ...],
    weight: torch.Tensor,
    alpha: torch.Tensor,
    grad_mean_s: torch.Tensor,
    grad_var_s: torch.Tensor,
    k: int,
    count: int,
) -> _TaskNormChain:
    """TaskNorm-I's backward through its moments, on per-image-and-channel numbers: from the sums of the output
    gradient ``total`` and of gradient times input ``dot`` (each (n, C, 1, 1), over ``count`` pixels per image),
    the forward's ``moments`` (mean_i, var_i, mean_s, var_s, d, invstd) and the gradients of the support moments
    it returned ((C,) each)."""
    mean_i, var_i, _, var_s, d, invstd = moments
    n, w = len(total), weight.view(1, -1, 1, 1)
    beta = 1 - alpha
    around = dot - mean_i * total + (alpha * d) * total  # sum of grad * (h - mean), as mean_i - mean = alpha d
    grad_weight = (invstd * around).sum((0, 2, 3))
    grad_bias = total.sum((0, 2, 3))
    d_mean = -w * invstd * total  # dL/dmean, per image
    d_var = -0.5 * w * invstd.pow(3) * around  # dL/dvar, per image
    # the blend: mean = alpha mean_s + beta mean_i; var = alpha var_s + beta var_i + alpha beta d^2
    spread = 2 * alpha * beta * d * d_var
    g_mean_s = (alpha * d_mean - spread).sum(0, keepdim=True) + grad_mean_s.view(1, -1, 1, 1)
    g_var_s = alpha * d_var.sum(0, keepdim=True) + grad_var_s.view(1, -1, 1, 1)
    blend = var_s - var_i + (1 - 2 * alpha) * d.square()
    grad_alpha = (-d * d_mean + blend * d_var).sum().view_as(alpha)
    # onto each image's moments; the support's are means over the first k images (var_s: total variance,
    # whose dependence through mean_s vanishes, the deviations summing to zero)
    sigma = (torch.arange(n, device=total.device) < k).to(total.dtype).view(n, 1, 1, 1) / k
    g_mean_i = beta * d_mean + spread + sigma * (g_mean_s + 2 * g_var_s * d)
    g_var_i = beta * d_var + sigma * g_var_s
    slope = 2 * g_var_i / count  # d var_i / d h = 2 (h - mean_i) / count; d mean_i / d h = 1 / count
    a, p = w * invstd, g_mean_i / count - slope * mean_i
    return _TaskNormChain(
        a, p, slope, grad_weight, grad_bias, grad_alpha, sigma, d, invstd, around, d_mean, d_var, g_var_s, blend
    )


def _tasknorm_chain_vjp(
    chain: _TaskNormChain,
    total: torch.Tensor,
    mean_i: torch.Tensor,
    weight: torch.Tensor,
    alpha: torch.Tensor,
    count: int,
    upstream: tuple[torch.Tensor, ...],
) -> tuple[torch.Tensor, ...]:
    """The vector-Jacobian product of ``_tasknorm_chain`` with ``upstream``, the gradients of its six outputs (a,
    p, q, grad_weight, grad_bias, grad_alpha): the gradients of its inputs total, dot, mean_i, var_i (each
    (n, C, 1, 1)), weight, alpha, grad_mean_s and grad_var_s (the forward's mean_s, var_s, d and invstd being
    functions of mean_i, var_i and alpha, their chain is followed here). Reverse mode written out line by line
    against ``_tasknorm_chain``, from its values (each ``x_b`` the gradient of ``x``): about fifty operations on
    (n, C) numbers, where autograd's engine took a few milliseconds per layer for the same graph. Checked by
    ``gradgradcheck`` through ``_TaskNormI``."""
    a_b, p_b, q_b, weight_b_up, bias_b_up, alpha_b_up = upstream
    c = chain
    w, sigma, d, r, around, d_mean, d_var = weight.view(1, -1, 1, 1), c.sigma, c.d, c.invstd, c.around, c.d_mean, c.d_var
    beta = 1 - alpha
    ab = alpha * beta
    # a = w r; p = g_mean_i / count - q mean_i; q = 2 g_var_i / count
    weight_b = (a_b * r).sum(0, keepdim=True)
    r_b = a_b * w
    g_mean_i_b = p_b / count
    mean_b = -p_b * c.q
    g_var_i_b = 2 * (q_b - p_b * mean_i) / count
    # g_var_i = beta d_var + sigma g_var_s; g_mean_i = beta d_mean + spread + sigma (g_mean_s + 2 g_var_s d)
    d_var_b = beta * g_var_i_b
    g_var_s_b = (sigma * g_var_i_b).sum(0, keepdim=True) + (2 * sigma * d * g_mean_i_b).sum(0, keepdim=True)
    alpha_b = -(d_var * g_var_i_b).sum() - (d_mean * g_mean_i_b).sum()
    d_mean_b = beta * g_mean_i_b
    spread_b = g_mean_i_b
    g_mean_s_b = (sigma * g_mean_i_b).sum(0, keepdim=True)
    d_b = 2 * sigma * c.g_var_s * g_mean_i_b
    # grad_alpha = sum(-d d_mean + blend d_var), blend = var_s - var_i + (1 - 2 alpha) d^2
    d_b = d_b + alpha_b_up * (2 * (1 - 2 * alpha) * d * d_var - d_mean)
    d_mean_b = d_mean_b - alpha_b_up * d
    var_s_b = alpha_b_up * d_var.sum(0, keepdim=True)
    var_i_b = -alpha_b_up * d_var
    alpha_b = alpha_b - alpha_b_up * 2 * (d.square() * d_var).sum()
    d_var_b = d_var_b + alpha_b_up * c.blend
    # g_var_s = alpha sum_i d_var + grad_var_s; g_mean_s = sum_i (alpha d_mean - spread) + grad_mean_s
    d_var_b = d_var_b + alpha * g_var_s_b
    alpha_b = alpha_b + (g_var_s_b * d_var).sum() + (g_mean_s_b * d_mean).sum()
    d_mean_b = d_mean_b + alpha * g_mean_s_b
    spread_b = spread_b - g_mean_s_b
    # spread = 2 alpha beta d d_var
    d_b = d_b + spread_b * 2 * ab * d_var
    d_var_b = d_var_b + spread_b * 2 * ab * d
    alpha_b = alpha_b + (spread_b * 2 * (1 - 2 * alpha) * d * d_var).sum()
    # d_var = -w r^3 around / 2; d_mean = -w r total; grad_weight = sum_i r around; grad_bias = sum_i total
    weight_b = weight_b - (d_var_b * 0.5 * r.pow(3) * around).sum(0, keepdim=True) - (d_mean_b * r * total).sum(0, keepdim=True)
    r_b = r_b - d_var_b * 1.5 * w * r.square() * around - d_mean_b * w * total + weight_b_up.view(1, -1, 1, 1) * around
    around_b = -0.5 * d_var_b * w * r.pow(3) + weight_b_up.view(1, -1, 1, 1) * r
    total_b = -d_mean_b * w * r + bias_b_up.view(1, -1, 1, 1)
    # around = dot - mean_i total + alpha d total
    alpha_b = alpha_b + (around_b * d * total).sum()
    d_b = d_b + around_b * alpha * total
    total_b = total_b + around_b * (alpha * d - mean_i)
    mean_b = mean_b - around_b * total
    # r = (var + eps)^(-1/2); var = alpha var_s + beta var_i + alpha beta d^2
    var_b = -0.5 * r.pow(3) * r_b
    var_s_b = var_s_b + alpha * var_b.sum(0, keepdim=True)
    var_i_b = var_i_b + beta * var_b
    d_b = d_b + 2 * ab * d * var_b
    alpha_b = alpha_b + (var_b * c.blend).sum()
    # var_s = sum_i sigma (var_i + d^2); d = mean_i - mean_s; mean_s = sum_i sigma mean_i
    var_i_b = var_i_b + sigma * var_s_b
    d_b = d_b + 2 * sigma * d * var_s_b
    mean_b = mean_b + d_b - sigma * d_b.sum(0, keepdim=True)
    dot_b = around_b
    return total_b, dot_b, mean_b, var_i_b, weight_b.flatten(), alpha_b.view_as(alpha), g_mean_s_b.flatten(), g_var_s_b.flatten()


class _TaskNormIGrad(torch.autograd.Function):
    """``_TaskNormI``'s backward as one autograd node, for a differentiable backward (second-order MAML's inner
    step), with its own backward (the second derivative) written by hand.

    Forward: (grad, h, weight, alpha, grad_mean_s, grad_var_s) -> (grad_h, grad_weight, grad_bias, grad_alpha),
    ``grad_h = grad * a + p + q * h`` with (a, p, q) functions of four numbers per image and channel: the sums
    S1 = sum(grad), S2 = sum(grad * h), and the moments m = mean(h), v = var(h). Recorded as plain operations,
    that backward put about twenty operations over the activations per layer into the graph, and the outer
    backward about twice as many more. Here, given the upstream gradients G (of grad_h) and those of the small
    outputs: the three sums T0 = sum(G), T1 = sum(G * grad), T2 = sum(G * h) stand for G in the small outputs'
    objective ``a T1 + p T0 + q T2 + ...``, whose derivatives in (S1, S2, m, v, weight, alpha, ...) are a
    vector-Jacobian product on (n, C) numbers written out (``_tasknorm_chain_vjp``); then

        d/dgrad = a G + dS1 + dS2 h,    d/dh = q G + dS2 grad + dm / count + dv 2 (h - m) / count.

    Seven passes over the activations where autograd took about forty. Checked by ``gradgradcheck`` against
    finite differences in ``tests/test_joint_pass.py``; not differentiable a third time.
    """

    @staticmethod
    def forward(ctx, grad, h, weight, alpha, grad_mean_s, grad_var_s, moments, k: int):
        ctx.fused, ctx.count, ctx.mean_i = _fused_instance_kernels(h), h[0, 0].numel(), moments[0]
        dot, total = _gradient_sums(grad, h, per_image=True, fused=ctx.fused)
        ctx.chain = chain = _tasknorm_chain(total, dot, moments, weight, alpha, grad_mean_s, grad_var_s, k, ctx.count)
        ctx.save_for_backward(grad, h, weight, alpha, total)
        return torch.addcmul(chain.p, grad, chain.a).addcmul_(h, chain.q), chain.grad_weight, chain.grad_bias, chain.grad_alpha

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, gg_h, gg_weight, gg_bias, gg_alpha):
        grad, h, weight, alpha, total = ctx.saved_tensors
        chain, count, mean_i = ctx.chain, ctx.count, ctx.mean_i
        t1, t0 = _gradient_sums(gg_h, grad, per_image=True, fused=ctx.fused)
        t2 = _gradient_sums(gg_h, h, per_image=True, fused=ctx.fused)[0]
        d_total, d_dot, d_mean, d_var, d_weight, d_alpha, d_grad_mean_s, d_grad_var_s = _tasknorm_chain_vjp(
            chain, total, mean_i, weight, alpha, count, (t1, t0, t2, gg_weight, gg_bias, gg_alpha)
        )
        d_grad = torch.addcmul(d_total, gg_h, chain.a).addcmul_(h, d_dot)
        slope = 2 * d_var / count
        d_h = torch.addcmul(d_mean / count - slope * mean_i, gg_h, chain.q).addcmul_(grad, d_dot).addcmul_(h, slope)
        return d_grad, d_h, d_weight, d_alpha, d_grad_mean_s, d_grad_var_s, None, None


def _fused_instance_kernels(h: torch.Tensor) -> bool:
    """Whether ``_TaskNormI`` takes each image's moments (and, in a plain backward, its two sums) from PyTorch's
    group-norm kernels: in the standard layout, where they read the activations once (``benchmarks/tasknorm.py``);
    in channels-last their CPU kernels are many times slower than the plain reductions."""
    return h.is_contiguous()


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


class IdentityBackbone(nn.Module):
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

    def embed_support(self, x: torch.Tensor, params: Params | None = None) -> tuple[torch.Tensor, SupportStats | None]:
        return self(x, params), None

    def embed_episode(
        self, support_x: torch.Tensor, query_x: torch.Tensor, params: Params | None = None
    ) -> tuple[torch.Tensor, torch.Tensor, SupportStats | None]:
        return self(support_x, params), self(query_x, params), None


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
        fmt = _LAYOUT.get() or own
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


def _folds_first_layer(x: torch.Tensor, layer: tuple[torch.Tensor, ...], fmt: torch.memory_format) -> bool:
    """Whether ``Conv4._run`` computes its first block's convolution and MetaBN with given moments as one product
    (``_first_layer_metabn``): one input channel, channels-last, on the CPU, outside ``vmap``, and neither the
    images nor that block's tensors (``layer``: convolution weight and bias, normalisation weight and bias)
    needing gradients (adaptation, evaluation and the studio; training keeps the two steps and their backward)."""
    if x.shape[1] != 1 or fmt != torch.channels_last or layer[0].device.type != "cpu" or inside_vmap():
        return False
    return not (torch.is_grad_enabled() and any(t is not None and t.requires_grad for t in (x, *layer)))


class ModuleBackbone(nn.Module):
    """Your own feature extractor as a backbone: any ``nn.Module`` mapping inputs (n, *input_shape) to
    features (n, out_dim), with an ``out_dim`` attribute (or ``out_dim`` given here).

    ``HyperMAML``, ``MAML`` and ``ProtoNet`` wrap a module that lacks ``embed_support`` in this class
    themselves, so passing your module is enough. Your own backbone, for 84x84 colour images::

        import torch
        from torch import nn
        import hypermaml as hm
        from hypermaml.data import load_image_folder

        class SmallNet(nn.Module):
            def __init__(self):
                super().__init__()
                self.out_dim = 32  # the size of the features forward returns (required)
                self.input_shape = (3, 84, 84)  # optional: inputs are checked against it
                self.layers = nn.Sequential(
                    nn.Conv2d(3, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(4),
                    nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                )

            def forward(self, x):  # (n, 3, 84, 84) -> (n, 32)
                return self.layers(x)

        data = load_image_folder("my_images", channels=3, size=84)  # one sub-folder per class
        sampler = hm.EpisodeSampler(data.x, data.y, n_way=5, n_shot=1, n_query=5)
        model = hm.HyperMAML(hm.ModelConfig(method="hypermaml", n_way=5, n_shot=1), SmallNet())
        hm.meta_train(model, sampler, hm.TrainConfig(epochs=10))
        episode = sampler.sample(torch.Generator().manual_seed(0))
        task = model.adapt(episode.support_x, episode.support_y)
        logits = model.logits(episode.query_x, task)  # (25, 5)

    ``hm.MAML(config, SmallNet())`` and ``hm.ProtoNet(config, SmallNet())`` work the same way. The paper's
    Conv4 for such images needs no code: ``hm.BackboneConfig(in_channels=3, image_size=84)`` in the config.

    What differs from the library's backbones:

    - MAML with ``adapt="all"`` passes its fast weights into your module with ``torch.func.functional_call``,
      which swaps them into the module's attributes for the duration of each call (and back): such a model is
      NOT thread-safe; share it between threads only with a lock, or give each thread its own copy. HyperMAML,
      ProtoNet and MAML with ``adapt="head"`` call your module as it is, and are as thread-safe as its forward.
      (The library's Conv4 takes its weights as arguments and stays thread-safe in every method.)
    - Normalisation is whatever your module does: ``nn.BatchNorm2d`` normalises with the batch and updates its
      running statistics in training mode, as in any PyTorch module. The batch-independent task
      normalisations (``BackboneConfig.batch_norm``) are Conv4's.
    - ``hm.save`` writes the weights, but ``hm.load`` cannot rebuild your class (a checkpoint holds data,
      never code) and says so: build the model again and load the weights with
      ``model.load_state_dict(hm.checkpoint.read_checkpoint(path)["state_dict"])``.

    Args:
        module: the feature extractor; its forward takes a batch of inputs and returns (n, out_dim).
        out_dim: the feature size; default ``module.out_dim``.
        input_shape: the shape of one input, e.g. (3, 84, 84); default ``module.input_shape`` if it has one,
            else None (inputs are then checked only for type, dtype and device).
    """

    def __init__(self, module: nn.Module, out_dim: int | None = None, input_shape: tuple[int, ...] | None = None) -> None:
        super().__init__()
        if not isinstance(module, nn.Module):
            raise TypeError(f"a backbone must be a torch.nn.Module, got {type(module).__name__}")
        out_dim = getattr(module, "out_dim", None) if out_dim is None else out_dim
        if isinstance(out_dim, bool) or not isinstance(out_dim, int) or out_dim < 1:
            raise TypeError(
                f"your backbone {type(module).__name__} needs an out_dim: set self.out_dim to the size of the "
                f"(n, out_dim) features its forward returns (got {out_dim!r})"
            )
        input_shape = getattr(module, "input_shape", None) if input_shape is None else input_shape
        self.module = module
        self.out_dim = out_dim
        self.input_shape = tuple(int(d) for d in input_shape) if input_shape is not None else None
        self.batch_norm = None  # the module normalises as it does; no support statistics travel in a task

    def forward(self, x: torch.Tensor, params: Params | None = None, stats: SupportStats | None = None) -> torch.Tensor:
        """(n, *input_shape) -> (n, out_dim). ``params``: tensors named as in ``named_parameters()``
        (``module.<name>``) that replace the module's own for this call (MAML's fast weights), through
        ``torch.func.functional_call``: not thread-safe. ``stats`` is ignored (no task normalisation)."""
        if self.input_shape is not None and (x.dim() != len(self.input_shape) + 1 or x.shape[1:] != self.input_shape):
            expected = ", ".join(str(d) for d in self.input_shape)
            raise ValueError(f"expected inputs of shape (n, {expected}) (this model's backbone), got {tuple(x.shape)}")
        if params:
            own = {k[len("module.") :]: v for k, v in params.items() if k.startswith("module.")}
            out = torch.func.functional_call(self.module, own, (x,), strict=False)
        else:
            out = self.module(x)
        if not isinstance(out, torch.Tensor) or out.dim() != 2 or out.shape[1] != self.out_dim or len(out) != len(x):
            got = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
            raise ValueError(
                f"your backbone {type(self.module).__name__} returned {got} for {len(x)} inputs; "
                f"its out_dim says ({len(x)}, {self.out_dim})"
            )
        return out

    def embed_support(self, x: torch.Tensor, params: Params | None = None) -> tuple[torch.Tensor, SupportStats | None]:
        """The support set's features and no statistics (None)."""
        return self(x, params), None

    def embed_episode(
        self, support_x: torch.Tensor, query_x: torch.Tensor, params: Params | None = None
    ) -> tuple[torch.Tensor, torch.Tensor, SupportStats | None]:
        """Support and query features (two calls: the module may normalise with its batch), no statistics."""
        return self(support_x, params), self(query_x, params), None


def build_backbone(cfg: BackboneConfig) -> nn.Module:
    if cfg.kind == "identity":
        return IdentityBackbone(cfg)
    if cfg.kind == "conv4":
        return Conv4(cfg)
    raise ValueError(f"unknown backbone kind {cfg.kind!r}; choose 'identity' or 'conv4'")
