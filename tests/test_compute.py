"""The studio's worker processes (app/workers.py) give exactly what computing in the server gives."""

import os
import signal

import numpy as np
import pytest
import torch

from app import compute, workers


@pytest.fixture
def one_worker(monkeypatch):
    monkeypatch.setenv("HYPERMAML_STUDIO_WORKERS", "1")
    monkeypatch.setenv("OMP_NUM_THREADS", "1")  # what ./run_app.sh exports: the spawned worker starts with it
    assert workers._workers is None
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as a worker (and ./run_app.sh's server) computes: same sums, same numbers
    yield
    torch.set_num_threads(threads)
    if workers._workers is not None:
        workers._workers.shutdown()
        workers._workers = None


def toy_arrays(seed=0):
    from toy.tasks import TASK_TYPES, sample_task

    episode = sample_task(*TASK_TYPES[1], 5, 50, torch.Generator().manual_seed(seed))
    return tuple(t.numpy() for t in (episode.support_x, episode.support_y, episode.query_x, episode.query_y))


def test_without_workers_the_computation_runs_in_the_calling_process(monkeypatch):
    monkeypatch.delenv("HYPERMAML_STUDIO_WORKERS", raising=False)
    assert workers.count() == 0
    assert workers.run(os.getpid) == os.getpid()


def test_a_worker_draws_the_same_toy_panels_and_episode_as_the_server(one_worker):
    assert workers.run(os.getpid) != os.getpid()  # it really is another process
    args = (*toy_arrays(), (-12.0, 12.0), (-10.0, 14.0))
    here, there = compute.bundled_toy_panels(*args), workers.run(compute.bundled_toy_panels, *args)
    assert [p.title for p in here[0]] == [p.title for p in there[0]]
    for a, b in zip(here[0], there[0]):
        assert a.accuracy == b.accuracy
        np.testing.assert_array_equal(a.grid.probs, b.grid.probs)
    assert here[1] == there[1]  # HyperMAML's update, as the table shows it
    assert there[2][:8] == b"\x89PNG\r\n\x1a\n" and there[3][:8] == b"\x89PNG\r\n\x1a\n"

    mine = compute.episode_results("emnist-test", 1, 7, "omniglot_emnist")
    theirs = workers.run(compute.episode_results, "emnist-test", 1, 7, "omniglot_emnist")
    assert mine["names"] == theirs["names"] and mine["support"] == theirs["support"]
    for method in mine["probs"]:
        np.testing.assert_array_equal(mine["probs"][method], theirs["probs"][method])
    assert len(theirs["maml_steps"]) == compute.MAX_STEPS + 1
    for a, b in zip(mine["maml_steps"], theirs["maml_steps"]):
        np.testing.assert_array_equal(a, b)


def test_a_killed_worker_costs_one_answer_computed_here_then_a_new_pool(one_worker):
    pid = workers.run(os.getpid)
    os.kill(pid, signal.SIGKILL)
    assert workers.run(os.getpid) == os.getpid()  # the broken pool is noticed: this call is answered here
    assert workers.run(os.getpid) not in (pid, os.getpid())  # and a fresh worker serves the calls after that


def slow_pid() -> int:
    import time

    time.sleep(1.0)
    return os.getpid()


def test_two_workers_serve_two_visitors_at_the_same_time(monkeypatch, tmp_path):
    from concurrent.futures import ThreadPoolExecutor

    monkeypatch.setenv("HYPERMAML_STUDIO_WORKERS", "2")
    # no data folder for the workers: their warm-up loads the toy models and skips EMNIST (seconds each)
    monkeypatch.setenv("HYPERMAML_DATA", str(tmp_path / "no-data"))
    try:
        workers.warm_up()
        with ThreadPoolExecutor(2) as visitors:
            pids = list(visitors.map(lambda _: workers.run(slow_pid), range(2)))
        assert len(set(pids)) == 2 and os.getpid() not in pids
    finally:
        workers._workers.shutdown()
        workers._workers = None


def test_workers_are_forked_from_a_fork_server_that_loaded_torch_and_the_models_once(one_worker):
    import multiprocessing

    if "forkserver" not in multiprocessing.get_all_start_methods():
        pytest.skip("no fork server on this platform (the workers are spawned)")
    assert workers.run(workers.preloaded) is True  # the worker inherited what the fork server loaded
    assert workers.preloaded() is False  # the server itself never imports the preload
    assert workers.run(workers.preloaded_models) == 1  # the toy models: loaded once, in the fork server
