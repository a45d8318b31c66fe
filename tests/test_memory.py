"""Freed memory stays in the process between training steps (glibc's mallopt, hypermaml.memory)."""

import json
import statistics
import subprocess
import sys

from benchmarks.micro.allocator import CHILD


def test_keeping_freed_memory_removes_most_page_faults_of_a_training_step():
    # fresh processes: the setting cannot be undone in one. Page faults are counted, not timed. glibc's own
    # mmap threshold moves with the order of allocations, so one default process now and then faults little:
    # the median of three fresh processes per setting, alternated, is compared.
    runs: dict[str, list[float]] = {"default": [], "keep": []}
    for _ in range(3):
        for setting in runs:
            out = subprocess.run(
                [sys.executable, "-c", CHILD, setting, "hypermaml", "1", "8"], check=True, capture_output=True, text=True
            )
            runs[setting].append(json.loads(out.stdout.strip().splitlines()[-1])["page_faults_per_step"])
    faults = {setting: statistics.median(values) for setting, values in runs.items()}
    assert faults["keep"] < 0.2 * faults["default"], runs
