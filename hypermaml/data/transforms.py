"""Image conversions shared by every reader: one resize, one polarity convention."""

from __future__ import annotations

import torch
import torch.nn.functional as F

IMAGE_SIZE = 28


def resize_images(x: torch.Tensor, size: int = IMAGE_SIZE, chunk: int = 2048) -> torch.Tensor:
    """(N, C, H, W) images with values in [0, 1] -> (N, C, size, size) float32, antialiased.

    Bilinear with ``antialias=True`` averages over each output pixel's footprint, so thin strokes fade
    instead of vanishing (a plain 105 -> 28 bilinear resize drops whole pen strokes). Done in chunks to keep
    peak memory small for the 32k Omniglot images.
    """
    if x.dim() != 4:
        raise ValueError(f"expected (N, C, H, W) images, got shape {tuple(x.shape)}")
    if x.shape[-2:] == (size, size):
        return x.float()
    out = [
        F.interpolate(x[i : i + chunk].float(), size=(size, size), mode="bilinear", antialias=True, align_corners=False)
        for i in range(0, len(x), chunk)
    ]
    return torch.cat(out).clamp_(0.0, 1.0)
