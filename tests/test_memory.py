"""Freed memory stays in the process between training steps (glibc's mallopt, hypermaml.memory)."""

import json
import subprocess
import sys

from benchmarks.micro.allocator import CHILD


def test_keeping_freed_memory_removes_most_page_faults_of_a_training_step():
    # fresh processes: the setting cannot be undone in one. Page faults are counted, not timed.
    faults = {}
    for setting in ("default", "keep"):
        out = subprocess.run(
            [sys.executable, "-c", CHILD, setting, "hypermaml", "1", "8"], check=True, capture_output=True, text=True
        )
        faults[setting] = json.loads(out.stdout.strip().splitlines()[-1])["page_faults_per_step"]
    assert faults["keep"] < 0.2 * faults["default"], faults
