"""Conv4's 3x3 convolutions (padding 1), and its first layer with MetaBN folded in.

Formula: ``out[n, o] = bias[o] + sum over c, di, dj of weight[o, c, di, dj] * x[n, c, i + di - 1, j + dj - 1]``,
``F.conv2d(x, weight, bias, padding=1)``. With one input channel (the grey characters' first layer) on the CPU it
runs as a matrix product of each pixel's 3x3 patch (``F.unfold``) with the (C, 9) weight, where
``benchmarks/micro/first_layer.py`` measured that faster; the product is built from differentiable operations, so
autograd gives its first and second derivatives (second-order MAML) as it does the convolution's.

Normalising with known moments (MetaBN's queries) is a per-channel scale ``s = gamma / sqrt(var + eps)`` and shift
``beta - mean * s``; for a one-channel first layer without autograd they fold into the product's weight and bias
(``_first_layer_metabn``), and the activations are written once, already normalised.

Checked against ``F.conv2d`` (values, ``gradcheck`` and ``gradgradcheck`` in float64) and against the two steps in
``tests/test_joint_pass.py``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from .vmap_state import inside_vmap


def _conv3x3(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None, fmt: torch.memory_format) -> torch.Tensor:
    """A Conv4 convolution, (n, C_in, H, W) -> (n, C_out, H, W) in layout ``fmt``.

    A one-channel input is "contiguous" in both layouts, and the convolution then answers in the standard one,
    where the pooling after it runs ten times slower: the layout is said explicitly. With one input channel it
    runs as a matrix product (``_conv3x3_one_channel``) where ``benchmarks/micro/first_layer.py`` measured that
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
    convolution and the normalisation each passed over them (``benchmarks/micro/first_layer.py``). The support set
    itself keeps the two steps: its moments from the patches' covariance cost as much as the pass they save."""
    scale = bn_weight * torch.rsqrt(var + eps)
    centre = mean if bias is None else mean - bias  # (product + bias) - mean, for the product without the bias
    shift = torch.addcmul(bn_bias, centre, scale, value=-1)
    folded = weight.reshape(len(weight), 9) * scale[:, None]
    return _pixels_to_image(_pixel_rows_product(F.unfold(x, 3, padding=1), folded, shift), x.shape)


def _folds_first_layer(x: torch.Tensor, layer: tuple[torch.Tensor, ...], fmt: torch.memory_format) -> bool:
    """Whether ``Conv4._run`` computes its first block's convolution and MetaBN with given moments as one product
    (``_first_layer_metabn``): one input channel, channels-last, on the CPU, outside ``vmap``, and neither the
    images nor that block's tensors (``layer``: convolution weight and bias, normalisation weight and bias)
    needing gradients (adaptation, evaluation and the studio; training keeps the two steps and their backward)."""
    if x.shape[1] != 1 or fmt != torch.channels_last or layer[0].device.type != "cpu" or inside_vmap():
        return False
    return not (torch.is_grad_enabled() and any(t is not None and t.requires_grad for t in (x, *layer)))
