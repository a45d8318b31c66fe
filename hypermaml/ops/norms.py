"""Batch normalisation and MetaBN: the moments, the normalisation, and MetaBN's hand-written derivative.

Formulas, for activations ``h`` (n, C, H, W), per channel:

- moments over the rows that set the statistics (the batch, or the support set's first ``k`` rows) and the
  pixels, ``m = k H W`` values per channel: ``mean = sum h / m``, ``var = sum (h - mean)^2 / m`` (biased,
  two passes: ``moments_of``);
- the normalisation, with ``r = 1 / sqrt(var + eps)`` and the learned ``gamma`` (weight), ``beta`` (bias):
  ``out = (h - mean) * gamma * r + beta`` (``normalise_with``). Batch norm takes the moments of the batch
  itself; MetaBN (Bronskill et al., 2020) those of the support set, for the support and every query.

MetaBN's first derivative (``_NormaliseBySupport.backward``), with ``g = dL/dout``, sums over all rows and pixels,
and ``G_mean``, ``G_var`` the gradients arriving at the support moments it returns:

    dL/dbeta  = sum g,      dL/dgamma = r sum g (h - mean),
    dL/dmean  = -gamma r sum g + G_mean,      dL/dvar = -gamma r^3 sum g (h - mean) / 2 + G_var,
    dL/dh     = g gamma r + [row in the support] (dL/dmean + 2 (h - mean) dL/dvar) / m.

Its second derivative (second-order MAML) is autograd's: under ``create_graph`` that backward recomputes the
moments from ``h`` and is written in differentiable operations.

Where they are tested, in float64: ``_NormaliseBySupport`` against autograd through the written-out formula
(outputs, first and second derivatives) and with ``gradcheck``/``gradgradcheck``; ``_gradient_sums`` from the
normalisation kernels against plain reductions; the support pass without autograd against the autograd path;
one pass over support and queries against two, every method's loss, logits and gradients (second-order MAML
included): ``tests/test_joint_pass.py``. MetaBN's moments against ``torch.var_mean`` by hand, and a query's
logits independent of the other queries: ``tests/test_batch_independence.py``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from .vmap_state import inside_vmap


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
