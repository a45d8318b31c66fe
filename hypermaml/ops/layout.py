"""The memory layout Conv4's forward computes in, when a caller chooses one for a block of code.

Conv4 keeps its weights channels-last (NHWC), where oneDNN's CPU convolutions run about twice as fast; some phases
are faster in the standard layout (second-order MAML's training step) and ``torch.func.vmap`` supports only the
standard one. ``memory_layout(fmt)`` chooses for a block, ``chosen_layout()`` says what was chosen; the results
are the same function up to float rounding either way (``tests/test_layout.py``; timings:
``benchmarks/micro/layout.py``).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

import torch

# The memory layout a Conv4 forward computes in, when a caller chooses one for a phase (``memory_layout``);
# None: the module's own (that of its weights). A context variable, not a module attribute: a choice made by
# one thread (or one vectorised meta-batch) never changes what another sees.
_LAYOUT: ContextVar[torch.memory_format | None] = ContextVar("hypermaml_conv4_layout", default=None)


@contextmanager
def memory_layout(fmt: torch.memory_format | None) -> Iterator[None]:
    """Run the Conv4 forwards inside the block in layout ``fmt`` (``torch.channels_last`` or
    ``torch.contiguous_format``), whatever the module's own; None keeps the module's. The results are the same
    function up to float rounding; only the speed differs (``benchmarks/speed.py``). Used per method and phase,
    e.g. inside ``torch.func.vmap``, which supports only the standard layout."""
    token = _LAYOUT.set(fmt)
    try:
        yield
    finally:
        _LAYOUT.reset(token)


def chosen_layout() -> torch.memory_format | None:
    """The layout a caller chose with ``memory_layout`` for this thread or context (None: none chosen)."""
    return _LAYOUT.get()
