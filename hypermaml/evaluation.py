"""Episodic evaluation: mean accuracy with a 95% confidence interval over many episodes."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import numpy as np
import torch

from .base import FewShotModel
from .episodes import Sampler
from .progress import progress as progress_bar


@dataclass(frozen=True)
class EvalResult:
    """Accuracies are fractions in [0, 1].

    Attributes:
        mean: mean query accuracy over episodes.
        ci95: half-width of the 95% interval, 1.96 * std / sqrt(n) (population std, as in the paper's
            code, so our numbers compare with its table).
        accuracies: (n_episodes,) per-episode accuracies.
        adapt_seconds: total wall time spent inside ``model.adapt``.
    """

    mean: float
    ci95: float
    accuracies: np.ndarray = field(repr=False)
    adapt_seconds: float

    @classmethod
    def from_accuracies(cls, accuracies: np.ndarray, adapt_seconds: float = 0.0) -> EvalResult:
        """The mean and 95% interval of (n_episodes,) per-episode accuracies."""
        accuracies = np.asarray(accuracies, dtype=np.float64)
        return cls(
            mean=float(accuracies.mean()),
            ci95=float(1.96 * accuracies.std() / math.sqrt(len(accuracies))),
            accuracies=accuracies,
            adapt_seconds=adapt_seconds,
        )

    @property
    def n_episodes(self) -> int:
        return len(self.accuracies)

    def __str__(self) -> str:
        return f"{100 * self.mean:.2f} ± {100 * self.ci95:.2f} % over {self.n_episodes} episodes"

    def to_dict(self) -> dict:
        return {
            "mean": self.mean,
            "ci95": self.ci95,
            "n_episodes": self.n_episodes,
            "adapt_seconds": self.adapt_seconds,
            "accuracies": [float(a) for a in self.accuracies],
        }


def evaluate(
    model: FewShotModel,
    sampler: Sampler,
    n_episodes: int = 600,
    seed: int = 0,
    *,
    device: str | torch.device | None = None,
    progress: bool = False,
    query_batch: int | None = None,
    **adapt_kwargs,
) -> EvalResult:
    """Adapt on each episode's support set and score its queries.

    The same ``seed`` gives the same episodes for every model, so methods are compared on identical tasks.

    Args:
        model: any method; it is put in eval mode and restored to its previous mode afterwards.
        sampler: draws episodes (``sampler.sample(generator)``).
        n_episodes: how many episodes (the paper uses 600).
        seed: seeds the episode generator.
        device: where to run; default the model's device.
        progress: show a progress bar.
        query_batch: how many queries the model sees at once. None: all of an episode's queries together
            (the paper's protocol, ``n_way * n_query`` at once); 1: each query alone, as a person with one
            picture uses a model. Batch-independent models give the same numbers for every value.
        **adapt_kwargs: passed to ``model.adapt`` (e.g. ``steps=k`` for MAML).
    """
    if n_episodes < 1:
        raise ValueError(f"n_episodes must be at least 1, got {n_episodes}")
    if query_batch is not None and query_batch < 1:
        raise ValueError(f"query_batch must be at least 1 (or None for all queries at once), got {query_batch}")
    device = torch.device(device) if device is not None else model.device
    was_training = model.training
    model.eval()
    generator = torch.Generator().manual_seed(seed)
    accuracies = np.empty(n_episodes)
    adapt_seconds = 0.0
    try:
        for i in progress_bar(range(n_episodes), n_episodes, "evaluate", progress):
            episode = sampler.sample(generator).to(device)
            with torch.no_grad():
                start = time.perf_counter()
                task = model.adapt(episode.support_x, episode.support_y, **adapt_kwargs)
                adapt_seconds += time.perf_counter() - start
                chunks = [episode.query_x] if query_batch is None else episode.query_x.split(query_batch)
                predicted = torch.cat([model.logits(chunk, task) for chunk in chunks]).argmax(-1)
            accuracies[i] = (predicted == episode.query_y).double().mean().item()
    finally:
        model.train(was_training)
    return EvalResult.from_accuracies(accuracies, adapt_seconds)
