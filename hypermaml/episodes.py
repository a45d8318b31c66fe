"""Episodes (few-shot tasks) and the N-way K-shot Q-query sampler."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import torch


@dataclass(frozen=True)
class Episode:
    """One few-shot task. Labels are explicit, always in ``0..n_way-1``.

    Attributes:
        support_x: (n_way * n_shot, *input_shape) inputs to adapt on.
        support_y: (n_way * n_shot,) int64 labels.
        query_x: (n_query_total, *input_shape) inputs to classify.
        query_y: (n_query_total,) int64 labels.
    """

    support_x: torch.Tensor
    support_y: torch.Tensor
    query_x: torch.Tensor
    query_y: torch.Tensor

    @property
    def n_way(self) -> int:
        return int(self.support_y.max().item()) + 1

    def to(self, device: torch.device | str) -> Episode:
        return Episode(*(t.to(device) for t in (self.support_x, self.support_y, self.query_x, self.query_y)))


class Sampler(Protocol):
    """Anything that draws episodes from a generator (the evaluator and the trainer rely on this)."""

    def sample(self, generator: torch.Generator) -> Episode: ...


class EpisodeSampler:
    """Draws N-way K-shot Q-query episodes from a labelled tensor set.

    Each episode picks ``n_way`` distinct classes, gives them labels ``0..n_way-1`` in a random order, and
    takes ``n_shot`` support and ``n_query`` query examples per class without overlap.

    Args:
        x: (N, *input_shape) inputs.
        y: (N,) integer class ids (any values; they are regrouped).
        n_way, n_shot, n_query: the episode shape.
        class_names: optional names for ``y``'s values, used in error messages.
    """

    def __init__(
        self,
        x: torch.Tensor,
        y: torch.Tensor,
        n_way: int,
        n_shot: int,
        n_query: int,
        class_names: Sequence[str] | None = None,
    ) -> None:
        if len(x) != len(y):
            raise ValueError(f"x has {len(x)} examples but y has {len(y)} labels")
        if n_way < 2 or n_shot < 1 or n_query < 1:
            raise ValueError(f"need n_way >= 2, n_shot >= 1, n_query >= 1; got {n_way}, {n_shot}, {n_query}")
        self.x, self.n_way, self.n_shot, self.n_query = x, n_way, n_shot, n_query
        y = torch.as_tensor(y)
        if y.dim() != 1:  # an (N, 1) column would be read as pairs of indices and silently mix the classes
            raise ValueError(f"y must be one label per example, shape (N,); got shape {tuple(y.shape)}")
        if y.is_floating_point() or y.is_complex():
            raise ValueError(f"y must hold integer class ids; got dtype {y.dtype}")
        y = y.long()
        self.classes = torch.unique(y)
        self.index_per_class = [torch.nonzero(y == c).flatten() for c in self.classes]
        needed = n_shot + n_query
        for c, idx in zip(self.classes.tolist(), self.index_per_class):
            if len(idx) < needed:
                named = class_names is not None and 0 <= c < len(class_names)
                name = repr(class_names[c]) if named else str(c)
                raise ValueError(
                    f"class {name} has {len(idx)} examples; n_shot={n_shot} + n_query={n_query} needs at least {needed}"
                )
        if len(self.classes) < n_way:
            raise ValueError(f"the data has {len(self.classes)} classes; n_way={n_way} needs at least {n_way}")

    def sample(self, generator: torch.Generator) -> Episode:
        return self.sample_with_classes(generator)[0]

    def sample_with_classes(self, generator: torch.Generator) -> tuple[Episode, list[int]]:
        """An episode and, for each of its labels 0..n_way-1, the source class id it stands for."""
        chosen = torch.randperm(len(self.classes), generator=generator)[: self.n_way]
        support, query = [], []
        for idx_c in chosen.tolist():
            pool = self.index_per_class[idx_c]
            pick = pool[torch.randperm(len(pool), generator=generator)[: self.n_shot + self.n_query]]
            support.append(pick[: self.n_shot])
            query.append(pick[self.n_shot :])
        labels = torch.arange(self.n_way)
        episode = Episode(
            support_x=self.x[torch.cat(support)],
            support_y=labels.repeat_interleave(self.n_shot),
            query_x=self.x[torch.cat(query)],
            query_y=labels.repeat_interleave(self.n_query),
        )
        return episode, self.classes[chosen].tolist()
