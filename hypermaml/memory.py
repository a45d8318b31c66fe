"""Keep freed memory in the process between training steps (glibc's malloc, via ``mallopt``).

A meta-training step allocates and frees the same tens of megabytes of activations every time. By default
glibc hands large freed blocks back to the kernel (``munmap``, or trimming the heap top) and asks for them
again on the next step: each page is then faulted in and zeroed anew, which measured about 40% of a
HyperMAML step on these CPUs. ``keep_freed_memory`` raises the thresholds so that the memory stays with the
process and is reused. The commands (``hypermaml train|evaluate``) and the studio call it at start-up;
library users may call it once themselves (it changes a process-wide setting, so importing the library
never does). Elsewhere than glibc it does nothing and returns False.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools

# glibc's mallopt parameters (malloc.h)
M_TRIM_THRESHOLD = -1
M_TOP_PAD = -2
M_MMAP_THRESHOLD = -3

MB = 2**20


@functools.lru_cache(maxsize=1)
def _libc():
    name = ctypes.util.find_library("c")
    if name is None:
        return None
    try:
        libc = ctypes.CDLL(name)
        libc.mallopt  # noqa: B018 - glibc (and a few others) only
        libc.gnu_get_libc_version  # noqa: B018 - glibc's thresholds are what these numbers are for
    except (OSError, AttributeError):
        return None
    return libc


def keep_freed_memory(trim_threshold_mb: int = 1024, top_pad_mb: int = 64, mmap_threshold_mb: int = 32) -> bool:
    """Keep up to ``trim_threshold_mb`` of freed heap instead of returning it, grow the heap ``top_pad_mb`` at a
    time, and serve blocks up to ``mmap_threshold_mb`` (glibc's maximum) from the heap rather than from fresh
    ``mmap`` calls. Returns True when the settings were made (glibc), False otherwise."""
    libc = _libc()
    if libc is None:
        return False
    settings = ((M_MMAP_THRESHOLD, mmap_threshold_mb), (M_TRIM_THRESHOLD, trim_threshold_mb), (M_TOP_PAD, top_pad_mb))
    return all(libc.mallopt(param, value * MB) == 1 for param, value in settings)
