"""Training-time augmentation of dark-on-light character images (``TrainConfig.augment``).

Each image gets its own random zoom, rotation and shift (one bilinear resampling) and then its strokes are
thickened by a random number of one-pixel (plus-shaped) dilations. The random numbers come from the caller's CPU
generator, so a resumed run draws exactly what an uninterrupted one would.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from .config import AugmentConfig
from .episodes import Episode


def _uniform(n: int, lo: float, hi: float, generator: torch.Generator) -> torch.Tensor:
    return lo + (hi - lo) * torch.rand(n, generator=generator)


def _dilate(ink: torch.Tensor) -> torch.Tensor:
    """One-pixel dilation with a plus-shaped element (rounder strokes than a 3x3 square)."""
    p = F.pad(ink, (1, 1, 1, 1))
    neighbours = torch.maximum(
        torch.maximum(p[..., 1:-1, :-2], p[..., 1:-1, 2:]), torch.maximum(p[..., :-2, 1:-1], p[..., 2:, 1:-1])
    )
    return torch.maximum(ink, neighbours)


def augment_images(x: torch.Tensor, cfg: AugmentConfig, generator: torch.Generator) -> torch.Tensor:
    """(N, C, H, W) images in [0, 1], dark ink on light, to augmented images of the same shape."""
    if not cfg.active or len(x) == 0:
        return x
    if x.dim() != 4:
        raise ValueError(f"augmentation is for images (N, C, H, W); got inputs of shape {tuple(x.shape)}")
    n = len(x)
    ink = 1.0 - x
    # Zoom (log-uniform), rotation and shift, as one affine map from output to input coordinates.
    scale = torch.exp(_uniform(n, math.log(cfg.scale[0]), math.log(cfg.scale[1]), generator))
    angle = _uniform(n, -cfg.rotate, cfg.rotate, generator) * math.pi / 180
    shift = _uniform(2 * n, -cfg.translate, cfg.translate, generator).view(n, 2) * 2  # grid spans [-1, 1]
    thick = torch.randint(cfg.thicken[0], cfg.thicken[1] + 1, (n,), generator=generator)
    if cfg.scale != (1.0, 1.0) or cfg.rotate > 0 or cfg.translate > 0:
        cos, sin = torch.cos(angle) / scale, torch.sin(angle) / scale
        theta = torch.stack([torch.stack([cos, -sin, shift[:, 0]], 1), torch.stack([sin, cos, shift[:, 1]], 1)], 1)
        grid = F.affine_grid(theta.to(x.device, x.dtype), list(x.shape), align_corners=False)
        ink = F.grid_sample(ink, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    if cfg.thicken[1] > 0:
        thick = thick.to(x.device)
        layer = ink
        for k in range(1, cfg.thicken[1] + 1):
            layer = _dilate(layer)
            ink = torch.where((thick >= k).view(n, *([1] * (x.dim() - 1))), layer, ink)
    return 1.0 - ink


def augment_episode(episode: Episode, cfg: AugmentConfig, generator: torch.Generator) -> Episode:
    """The episode with every support and query image augmented independently (labels unchanged)."""
    if not cfg.active:
        return episode
    both = augment_images(torch.cat([episode.support_x, episode.query_x]), cfg, generator)
    n_support = len(episode.support_x)
    return Episode(both[:n_support], episode.support_y, both[n_support:], episode.query_y)
