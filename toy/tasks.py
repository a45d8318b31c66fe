"""The four-Gaussian toy task distribution of the HyperMAML paper's Figure 1.

Two pairs of Gaussians with diagonal covariance: a "vertical" pair (two upright ellipses side by side) and a
"horizontal" pair (two flat ellipses one above the other). A task is one pair with its two labels in
either order, so there are four task types; the target model is a linear classifier on raw coordinates.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from hypermaml.episodes import Episode


@dataclass(frozen=True)
class Pair:
    means: tuple[tuple[float, float], tuple[float, float]]
    std: tuple[float, float]  # per-axis standard deviation, shared by both Gaussians of the pair


PAIRS = {
    "vertical": Pair(means=((1.0, 7.0), (4.0, 7.0)), std=(1.0, 2.0)),
    "horizontal": Pair(means=((-7.0, -1.0), (-7.0, -4.0)), std=(2.0, 1.0)),
}
# (pair, swapped): "swapped" gives label 0 to the pair's second Gaussian.
TASK_TYPES = [(name, swapped) for name in PAIRS for swapped in (False, True)]


def task_type_name(pair: str, swapped: bool) -> str:
    return f"{pair}, labels {'swapped' if swapped else 'in order'}"


def bayes_accuracy() -> float:
    """Accuracy of the optimal classifier: each pair's means are 3 standard deviations apart along the
    axis that separates them, so the best boundary is the midpoint and accuracy is Phi(1.5) ~ 0.933."""
    gaps = []
    for pair in PAIRS.values():
        (ax, ay), (bx, by) = pair.means
        gaps.append(math.hypot((ax - bx) / pair.std[0], (ay - by) / pair.std[1]) / 2)
    assert len(set(gaps)) == 1, "both pairs are equally hard by construction"
    return 0.5 * (1.0 + math.erf(gaps[0] / math.sqrt(2.0)))


def input_statistics() -> tuple[tuple[float, float], tuple[float, float]]:
    """Mean and std per coordinate of the whole task distribution (an equal mixture of the 4 Gaussians).

    The toy models standardise their inputs with these constants, stored in their checkpoints.
    """
    comps = [(m, p.std) for p in PAIRS.values() for m in p.means]
    mean = [sum(m[i] for m, _ in comps) / len(comps) for i in range(2)]
    var = [sum(s[i] ** 2 + (m[i] - mean[i]) ** 2 for m, s in comps) / len(comps) for i in range(2)]
    return (mean[0], mean[1]), (math.sqrt(var[0]), math.sqrt(var[1]))


def sample_task(
    pair: str,
    swapped: bool,
    n_shot: int,
    n_query: int,
    generator: torch.Generator | None = None,
    *,
    shift: tuple[float, float] = (0.0, 0.0),
    rotation_deg: float = 0.0,
    spread: float = 1.0,
) -> Episode:
    """One binary task from ``pair``; support and query points are (n, 2) raw coordinates.

    ``shift``, ``rotation_deg`` (about the pair's midpoint) and ``spread`` (multiplies the stds) move the
    task away from the training distribution; the defaults give the training distribution itself.
    """
    if pair not in PAIRS:
        raise ValueError(f"unknown pair {pair!r}; choose one of {sorted(PAIRS)}")
    if n_shot < 1 or n_query < 0:
        raise ValueError(f"need n_shot >= 1 and n_query >= 0, got {n_shot}, {n_query}")
    if spread <= 0:
        raise ValueError(f"spread must be positive, got {spread}")
    spec = PAIRS[pair]
    means = torch.tensor(spec.means)
    if swapped:
        means = means.flip(0)
    centre = means.mean(0)
    angle = math.radians(rotation_deg)
    rot = torch.tensor([[math.cos(angle), -math.sin(angle)], [math.sin(angle), math.cos(angle)]])
    std = torch.tensor(spec.std) * spread

    def draw(n: int) -> tuple[torch.Tensor, torch.Tensor]:
        noise = torch.randn(2, n, 2, generator=generator) * std  # (class, n, xy)
        points = (means[:, None, :] - centre + noise) @ rot.T + centre + torch.tensor(shift)
        return points.reshape(-1, 2), torch.arange(2).repeat_interleave(n)

    support_x, support_y = draw(n_shot)
    query_x, query_y = draw(n_query)
    return Episode(support_x, support_y, query_x, query_y)


class ToyTaskSampler:
    """Draws tasks of a uniformly random type (``hm.evaluate`` and ``hm.meta_train`` take it as a sampler)."""

    def __init__(self, n_shot: int, n_query: int, **transform) -> None:
        self.n_shot, self.n_query, self.transform = n_shot, n_query, transform

    def sample(self, generator: torch.Generator) -> Episode:
        pair, swapped = TASK_TYPES[int(torch.randint(len(TASK_TYPES), (1,), generator=generator))]
        return sample_task(pair, swapped, self.n_shot, self.n_query, generator, **self.transform)
