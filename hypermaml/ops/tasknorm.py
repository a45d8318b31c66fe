"""TaskNorm-I (Bronskill et al., 2020): the support set's moments blended with each image's own, and its
hand-written first and second derivatives.

Formulas, for activations ``h`` (n, C, H, W) whose first ``k`` rows are the support set, per channel, with
``P = H W`` pixels per image:

- each image's own moments: ``mean_i = sum h / P``, ``var_i = sum (h - mean_i)^2 / P`` (per image and channel);
- the support's: ``mean_s = mean over the k support images of mean_i``, ``var_s = mean over them of (var_i +
  (mean_i - mean_s)^2)`` (the variance of all the support rows' pixels);
- the blend weight, learned per layer from the support size: ``alpha = sigmoid(scale * n_support + offset)``
  (``Conv4._alpha``; ``Conv4.tasknorm`` holds (scale, offset) per layer, initially (0, 2));
- with ``d = mean_i - mean_s``, each image's blended moments ``mean = alpha mean_s + (1 - alpha) mean_i`` and
  ``var = alpha var_s + (1 - alpha) var_i + alpha (1 - alpha) d^2`` (the variance of the two-component mixture);
- ``out = (h - mean) * gamma / sqrt(var + eps) + beta`` (``_tasknorm_moments``, ``tasknorm_written_out``).

First derivative (``_TaskNormI.backward``), with ``g = dL/dout`` and ``r = 1 / sqrt(var + eps)``: only two sums per
image and channel read the activations, ``S1 = sum g`` and ``S2 = sum g h``; then on (n, C) numbers
(``_tasknorm_chain``) ``dL/dmean = -gamma r S1``, ``dL/dvar = -gamma r^3 sum g (h - mean) / 2``, followed through
the blend onto ``mean_i``, ``var_i`` (the support images also through ``mean_s``, ``var_s``) and ``alpha``
(``dL/dalpha = sum (-d dL/dmean + (var_s - var_i + (1 - 2 alpha) d^2) dL/dvar)``), and

    dL/dh = g gamma r + dL/dmean_i / P + 2 (h - mean_i) dL/dvar_i / P   (written ``g a + p + q h``).

Second derivative (second-order MAML differentiates that backward): ``_TaskNormIGrad`` is the backward as one
autograd node whose own backward is written by hand: three sums of the upstream gradient ``G`` (of ``dL/dh``)
stand for it, the chain's vector-Jacobian product is written out line by line on (n, C) numbers
(``_tasknorm_chain_vjp``), and ``d/dg = a G + dS1 + dS2 h``, ``d/dh = q G + dS2 g + dmean_i / P + 2 (h - mean_i)
dvar_i / P``. Not differentiable a third time.

Where they are tested, in float64: ``_TaskNormI`` against autograd through the written-out formula (outputs,
first and second derivatives, both layouts, support sizes) and with ``gradcheck``/``gradgradcheck``; one pass over
support and queries against two, and every method's loss, logits and gradients (second-order MAML included):
``tests/test_joint_pass.py``. The blend weight learned and a query's logits independent of the other queries:
``tests/test_batch_independence.py``. Hand-written against written-out, timed: ``benchmarks/micro/tasknorm.py``.
"""

from __future__ import annotations

from typing import NamedTuple

import torch

from .norms import _gradient_sums, _scale_shift, moments_of, normalise_with
from .vmap_state import inside_vmap


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
    ``benchmarks/micro/tasknorm.py`` times the two against each other)."""
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
        chain = _tasknorm_chain(total, dot, moments, weight, alpha, grad_mean_s, grad_var_s, k, ctx.count)
        # The three returned gradients are this node's outputs: kept on ctx they would hold the node that holds them,
        # a cycle through autograd's C++ graph that Python's collector cannot free, and every second-order MAML step
        # would leak its whole graph (tests/test_memory.py). The backward does not read them.
        ctx.chain = chain._replace(grad_weight=None, grad_bias=None, grad_alpha=None)
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
    group-norm kernels: in the standard layout, where they read the activations once (``benchmarks/micro/tasknorm.py``);
    in channels-last their CPU kernels are many times slower than the plain reductions."""
    return h.is_contiguous()
