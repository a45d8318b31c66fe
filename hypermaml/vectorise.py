"""Vectorised meta-batches: every episode of a meta-batch in one call, through ``torch.func.vmap``.

The per-episode code is the same code the loop runs (``model.meta_loss``); ``vmap`` maps it over a leading
episode dimension, so every statistic that is per episode in the loop (a support set's normalisation moments,
a transductive query batch's, the hypernetwork's per-class inputs, MAML's fast weights) stays per episode. A
convolution with shared weights becomes one convolution over all episodes' images; MAML's inner loop, whose
fast weights differ per episode, becomes grouped convolutions. Two things change inside ``vmap``, both chosen
here and read through context variables (``hypermaml.ops.vmap_state``, ``hypermaml.ops.layout``; never module
state, so other threads are unaffected):

- the inner loop takes its gradients with ``torch.func.grad`` (``torch.autograd.grad`` has no batching rule);
  the outer backward still differentiates through it (second order), as it does through the loop;
- Conv4 computes in the standard layout (``vmap`` does not support channels-last).

What it needs: the episodes of one call share their labels (``support_y``, ``query_y``) and shapes, which is
what ``EpisodeSampler`` (and augmentation) give. ``meta_batch_loss`` takes either path; ``train.vectorise``
chooses (``"auto"``: vmap on CUDA; the loop on CPU, where it measured faster: ``benchmarks/speed.py``).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import torch

from .episodes import Episode
from .ops.layout import memory_layout
from .ops.vmap_state import inside_vmap as inside_vmap  # re-exported for hypernet.py; its home is ops.vmap_state
from .ops.vmap_state import vmap_running


@contextmanager
def _vectorising() -> Iterator[None]:
    """Inside: ``inside_vmap()`` is True and Conv4 computes in the standard layout, for this context only."""
    with vmap_running(), memory_layout(torch.contiguous_format):
        yield


def same_labels(episodes: Sequence[Episode]) -> bool:
    """Whether one vmap call can take these episodes: the same labels in the same order, the same shapes."""
    first = episodes[0]
    return all(
        e.support_x.shape == first.support_x.shape
        and e.query_x.shape == first.query_x.shape
        and torch.equal(e.support_y, first.support_y)
        and torch.equal(e.query_y, first.query_y)
        for e in episodes[1:]
    )


def meta_batch_loss(model, episodes: Sequence[Episode], epoch: int = 0, vectorised: bool = False):
    """The mean meta-loss of ``episodes`` and each episode's query logits.

    Args:
        model: a ``FewShotModel``.
        episodes: E episodes; for ``vectorised`` they must share labels and shapes (``same_labels``).
        epoch: the training epoch (HyperMAML's warm-up).
        vectorised: one ``vmap`` call over the episodes instead of a Python loop; the same loss and gradients up
            to float rounding.

    Returns:
        (loss: scalar mean over episodes, logits: list of E tensors of shape (n_query_total, n_way)).
    """
    if not vectorised or len(episodes) == 1:
        pairs = [model.meta_loss(e, epoch=epoch) for e in episodes]
        return torch.stack([loss for loss, _ in pairs]).mean(), [logits for _, logits in pairs]
    if not same_labels(episodes):
        raise ValueError("a vectorised meta-batch needs episodes with the same labels and shapes (as EpisodeSampler draws)")
    support_y, query_y = episodes[0].support_y, episodes[0].query_y
    support_x = torch.stack([e.support_x for e in episodes])
    query_x = torch.stack([e.query_x for e in episodes])

    def one(sx: torch.Tensor, qx: torch.Tensor):
        return model.meta_loss(Episode(sx, support_y, qx, query_y), epoch=epoch)

    with _vectorising():
        losses, logits = torch.func.vmap(one, randomness="error")(support_x, query_x)
    return losses.mean(), list(logits.unbind(0))
