"""2x2 max-pooling with stride 2, Conv4's downsampling, and its hand-written derivative.

Formula: ``out[n, c, i, j] = max(h[n, c, 2i, 2j], h[n, c, 2i, 2j+1], h[n, c, 2i+1, 2j], h[n, c, 2i+1, 2j+1])``
(odd sizes rounded down), exactly ``F.max_pool2d(h, 2)``. Ties go to the first element of a window in row-major
order, as in PyTorch's kernel.

First derivative: the output gradient lands on each window's winner, zero elsewhere. ``_MaxPool2x2`` records the
winner as two comparisons (which column, then which row), rebuilds the kernel's flat indices from them and calls
PyTorch's own ``max_pool2d_with_indices_backward``, whose derivative (the second derivative of the pooling, for
second-order MAML: the gradient gathered back from the winners) PyTorch defines.

Checked against ``F.max_pool2d`` (values, ties, gradients and gradients of gradients, ``gradcheck`` and
``gradgradcheck`` in float64) in ``tests/test_joint_pass.py``; timed in ``benchmarks/micro/pooling.py``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from .vmap_state import inside_vmap


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
