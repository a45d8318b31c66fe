"""Progress for long loops, readable both on a terminal and in a log file.

On a terminal: a tqdm bar redrawn in place. Anywhere else (``nohup``, a log file, a CI job): one plain line at
most every ``interval`` seconds and one at the end, never a carriage-return bar (a 600-episode evaluation
once wrote 200 bar updates into a single log line).
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterable, Iterator
from typing import TextIO

from tqdm.auto import tqdm


def is_terminal(stream: TextIO | None = None) -> bool:
    """Whether ``stream`` (default stderr, where progress goes) is an interactive terminal."""
    stream = sys.stderr if stream is None else stream
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):  # a closed or replaced stream
        return False


class LineProgress:
    """The log-file form of a progress bar: ``desc: done/total (pct) elapsed, postfix`` every ``interval`` s.

    Supports the part of tqdm's interface this project uses: iteration, ``set_postfix`` and ``close``.
    """

    def __init__(self, iterable: Iterable, total: int, desc: str, interval: float = 60.0, stream: TextIO | None = None) -> None:
        self.iterable, self.total, self.desc, self.interval = iterable, total, desc, interval
        self.stream = sys.stderr if stream is None else stream
        self.postfix: dict[str, object] = {}
        self.done = 0

    def set_postfix(self, **values: object) -> None:
        self.postfix = values

    def _line(self, elapsed: float) -> str:
        pct = f" ({100 * self.done / self.total:.0f}%)" if self.total else ""
        extra = "".join(f", {k}={v}" for k, v in self.postfix.items())
        return f"{self.desc}: {self.done}/{self.total}{pct} in {elapsed:.0f} s{extra}"

    def __iter__(self) -> Iterator:
        started = last = time.monotonic()
        for item in self.iterable:
            yield item
            self.done += 1
            now = time.monotonic()
            if now - last >= self.interval and self.done < self.total:
                print(self._line(now - started), file=self.stream, flush=True)
                last = now
        elapsed = time.monotonic() - started
        if elapsed >= self.interval:  # short loops say nothing: the caller prints their result
            print(self._line(elapsed), file=self.stream, flush=True)

    def close(self) -> None:
        pass


def progress(iterable: Iterable, total: int, desc: str, enabled: bool = True, interval: float = 60.0):
    """A progress wrapper for ``iterable``: a tqdm bar on a terminal, ``LineProgress`` lines elsewhere, or
    nothing (``enabled`` False)."""
    if not enabled:
        return tqdm(iterable, total=total, disable=True)
    if is_terminal():
        return tqdm(iterable, total=total, desc=desc, leave=False)
    return LineProgress(iterable, total, desc, interval)
