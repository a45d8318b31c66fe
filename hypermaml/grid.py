"""Decision-boundary grids as numpy arrays (compute here; toy/ and app/ draw)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from .base import FewShotModel


@dataclass(frozen=True)
class Grid:
    """Class probabilities over a regular 2-D grid.

    Attributes:
        xs: (resolution,) x coordinates of the columns.
        ys: (resolution,) y coordinates of the rows.
        probs: (resolution, resolution, n_way) probabilities; ``probs[i, j]`` is at ``(xs[j], ys[i])``.
    """

    xs: np.ndarray
    ys: np.ndarray
    probs: np.ndarray

    @property
    def predicted(self) -> np.ndarray:
        """(resolution, resolution) the most probable class at each grid point."""
        return self.probs.argmax(-1)


def decision_grid(
    model: FewShotModel,
    task,
    xlim: tuple[float, float],
    ylim: tuple[float, float],
    resolution: int = 200,
) -> Grid:
    """Evaluate ``model.predict_proba`` for task state ``task`` at every point of a 2-D grid.

    Works for any method whose inputs are 2-D points (the toy models); ``task`` is what ``adapt`` returned.
    """
    if resolution < 2:
        raise ValueError(f"resolution must be at least 2, got {resolution}")
    xs = np.linspace(*xlim, resolution)
    ys = np.linspace(*ylim, resolution)
    gx, gy = np.meshgrid(xs, ys)
    points = torch.tensor(np.stack([gx.ravel(), gy.ravel()], 1), dtype=torch.float32, device=model.device)
    with torch.no_grad():
        probs = model.predict_proba(points, task).cpu().numpy()
    return Grid(xs=xs, ys=ys, probs=probs.reshape(resolution, resolution, -1))
