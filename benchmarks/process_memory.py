"""The memory a server and all its descendant processes use (Linux ``/proc``), for the studio benchmarks."""

from __future__ import annotations

import threading
from pathlib import Path


class PssSampler:
    """Samples, every ``every`` seconds in a thread, the proportional set size (PSS: each process's private
    pages plus its share of the pages it shares, so the sum over processes counts a shared page once) of the
    server and all its descendants, and keeps the largest sum seen: what the studio costs the machine."""

    def __init__(self, pid: int, every: float = 0.25) -> None:
        self.pid, self.every = pid, every
        self.peak, self.at_peak = 0.0, {}
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._done.wait(self.every):
            sizes = {}
            for proc in [self.pid, *children(self.pid)]:
                try:
                    sizes[proc] = pss_mb(proc)
                except (FileNotFoundError, ProcessLookupError):  # ended meanwhile
                    pass
            total = sum(sizes.values())
            if total > self.peak:
                self.peak, self.at_peak = total, sizes

    def stop(self) -> dict:
        self._done.set()
        self._thread.join()
        return {
            "server_peak_pss_mb": round(self.peak, 1),
            "pss_at_peak_mb": [round(v, 1) for v in self.at_peak.values()],
        }


def own_memory_mb(field: str = "VmRSS") -> float:
    """This process's ``field`` of /proc/self/status in MB: ``VmRSS`` (resident now) or ``VmHWM`` (its peak)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024  # kB
    raise RuntimeError(f"/proc/self/status has no {field}")


def pss_mb(pid: int) -> float:
    """A process's proportional set size in MB (Linux's /proc/PID/smaps_rollup)."""
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
        if line.startswith("Pss:"):
            return int(line.split()[1]) / 1024
    return 0.0


def peak_rss_mb(pid: int) -> float:
    """Peak resident memory (VmHWM) of the server process ``pid`` plus its worker processes (each one's own
    peak, summed: an upper bound on the peak of the whole)."""
    total = 0.0
    for proc in [pid, *children(pid)]:
        try:
            for line in Path(f"/proc/{proc}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    total += int(line.split()[1]) / 1024
        except FileNotFoundError:  # ended meanwhile
            pass
    return total or float("nan")


def children(pid: int) -> list[int]:
    """Every descendant process of ``pid``."""
    found = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            kids = [int(k) for k in (task / "children").read_text().split()]
        except FileNotFoundError:
            continue
        for kid in kids:
            found += [kid, *children(kid)]
    return found


def memory_sentence(report: dict) -> str:
    """The server's peak memory as the studio benchmarks report it (a started server's ``studio()`` report)."""
    return (
        f"Server peak memory over the whole run, its worker processes included: {report['server_peak_pss_mb']:.0f} MB "
        f"proportional set size (shared pages counted once; each process's own peak resident size, summed: "
        f"{report['server_peak_rss_mb']:.0f} MB)."
    )
