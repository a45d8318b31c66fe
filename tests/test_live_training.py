"""Live training's child process never outlives its visitor as a zombie."""

import gc
import time
from pathlib import Path

from app.live_training import LiveTraining


def state_of(pid: int) -> str | None:
    """The process's state letter from /proc ('Z': a zombie), or None once it is gone."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return None


def wait_for(condition, seconds: float = 60.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.2)
    return False


def test_a_finished_child_nobody_polls_is_reaped():
    import multiprocessing as mp

    from app.live_training import _start_reaper

    _start_reaper()  # what every LiveTraining starts: the page that started a run may never poll it again
    child = mp.get_context("spawn").Process(target=time.sleep, args=(0.1,))
    child.start()
    pid = child.pid
    # only /proc is read (is_alive() would itself collect the exit status): gone, not left a zombie ("Z")
    assert wait_for(lambda: state_of(pid) is None, 60), f"pid {pid} is {state_of(pid)}"


def test_a_run_whose_visitor_left_is_stopped_and_reaped():
    job = LiveTraining(scale=3)  # a long run
    pid = job._process.pid
    assert state_of(pid) not in (None, "Z")
    del job
    gc.collect()  # the session state holding it was released
    assert wait_for(lambda: state_of(pid) is None, 60), f"pid {pid} is {state_of(pid)}"
