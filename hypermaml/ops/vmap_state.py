"""Whether the code runs inside a vectorised meta-batch (``torch.func.vmap``, see ``hypermaml.vectorise``).

A context variable, never module state: entering a vectorised meta-batch in one thread changes nothing another
thread sees. The kernels of this package read it to leave their hand-written ``autograd.Function``s (which have
no batching rule) for the written-out formulas, MAML's inner loop to take its gradients with ``torch.func.grad``.
It lives here, apart from ``hypermaml.vectorise``, so that the backbones can read it without importing the
meta-batch code, which sets it (one direction of imports, no circle).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

_INSIDE = ContextVar("hypermaml_inside_vmap", default=False)


def inside_vmap() -> bool:
    """True while a vectorised meta-batch runs (the inner loop then uses ``torch.func.grad``)."""
    return _INSIDE.get()


@contextmanager
def vmap_running() -> Iterator[None]:
    """Mark the block as a vectorised meta-batch for this thread or context: ``inside_vmap()`` is True inside."""
    token = _INSIDE.set(True)
    try:
        yield
    finally:
        _INSIDE.reset(token)
