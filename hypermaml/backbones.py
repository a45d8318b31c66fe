"""Feature extractors. Each exposes ``out_dim``, the size of the embedding it returns."""

from __future__ import annotations

import torch
from torch import nn

from .config import BackboneConfig


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
    """The toy's "no backbone": standardised raw coordinates, (n, d) -> (n, d)."""

    def __init__(self, cfg: BackboneConfig) -> None:
        super().__init__()
        self.standardize = Standardize(cfg.input_mean, cfg.input_std, image=False)
        self.out_dim = len(cfg.input_mean)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 2 or x.shape[1] != self.out_dim:
            raise ValueError(f"expected inputs of shape (n, {self.out_dim}), got {tuple(x.shape)}")
        return self.standardize(x)


# Conv4's memory format. Channels-last (NHWC) weights and activations make oneDNN's convolutions and batch
# norm about twice as fast on CPU (benchmarks/speed.py --memory-format compares); results are the same up to
# float rounding. Read when a Conv4 is built.
CHANNELS_LAST = True


class Conv4(nn.Module):
    """The paper's Conv4: ``n_blocks`` x [conv3x3(hidden), BatchNorm, ReLU, maxpool2], then flatten.

    (n, C, 28, 28) -> (n, hidden) for the default 4 blocks (28 -> 14 -> 7 -> 3 -> 1).
    """

    def __init__(self, cfg: BackboneConfig, image_size: int = 28) -> None:
        super().__init__()
        self.standardize = Standardize(cfg.input_mean, cfg.input_std, image=True)
        track = cfg.batch_norm == "running"
        layers: list[nn.Module] = []
        channels = cfg.in_channels
        for _ in range(cfg.n_blocks):
            layers += [
                nn.Conv2d(channels, cfg.hidden, 3, padding=1),
                nn.BatchNorm2d(cfg.hidden, track_running_stats=track),
                nn.ReLU(inplace=True),
                nn.MaxPool2d(2),
            ]
            channels = cfg.hidden
        self.features = nn.Sequential(*layers)
        self.memory_format = torch.channels_last if CHANNELS_LAST else torch.contiguous_format
        self.features.to(memory_format=self.memory_format)
        self.in_channels = cfg.in_channels
        side = image_size
        for _ in range(cfg.n_blocks):
            side //= 2
        self.out_dim = cfg.hidden * side * side

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 4 or x.shape[1] != self.in_channels:
            raise ValueError(f"expected images of shape (n, {self.in_channels}, H, W), got {tuple(x.shape)}")
        x = self.standardize(x).contiguous(memory_format=self.memory_format)
        return self.features(x).flatten(1)


def build_backbone(cfg: BackboneConfig) -> nn.Module:
    if cfg.kind == "identity":
        return IdentityBackbone(cfg)
    if cfg.kind == "conv4":
        return Conv4(cfg)
    raise ValueError(f"unknown backbone kind {cfg.kind!r}; choose 'identity' or 'conv4'")
