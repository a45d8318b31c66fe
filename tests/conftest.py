"""Shared fixtures: tiny models that build in milliseconds."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import hypermaml as hm  # noqa: E402

# Saved tasks and rooms that tests make (and the servers they start) go to a throwaway store, never to the
# per-user one of whoever runs the suite.
# Likewise the decoded splits the studio maps from files (hypermaml.data.byte_images), shared by this run's
# processes (pytest-xdist's workers inherit the variables). The run that made them removes them at its end
# (pytest_unconfigure below): a decoded EMNIST split is 44 MB, left in /tmp by every run before.
MADE_HERE: list[str] = []
for variable, prefix in (("HYPERMAML_STUDIO_DIR", "hypermaml-studio-tests-"), ("HYPERMAML_CACHE", "hypermaml-cache-tests-")):
    if variable not in os.environ:
        import tempfile

        os.environ[variable] = tempfile.mkdtemp(prefix=prefix)
        MADE_HERE.append(os.environ[variable])


def pytest_unconfigure(config):
    import shutil

    for folder in MADE_HERE:  # (xdist's workers inherit the variables, so they made none of these)
        shutil.rmtree(folder, ignore_errors=True)


# Two torch threads at most, shared out among pytest-xdist's workers (PYTEST_XDIST_WORKER_COUNT): two workers
# of two threads each on two cores oversubscribe them, and OpenMP's spinning threads then slow the many
# tiny-tensor tests several-fold. Under xdist the processes that tests start (the studio's live-training
# child, a studio server) get the same count: at torch's default of a thread per core, the niced
# live-training child took minutes beside a busy worker instead of seconds.
THREADS = max(1, min(2, os.cpu_count() or 1) // int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1")))
torch.set_num_threads(THREADS)
if "PYTEST_XDIST_WORKER" in os.environ:
    os.environ.setdefault("OMP_NUM_THREADS", str(THREADS))


# Tests that start processes of their own: a studio server and a browser, studio workers, the live-training
# child (which runs at a lower priority), pip, the command line, allocator probes. Under pytest-xdist they run
# one after another on one worker (the scheduler below), so they never compete with each other for the two
# cores, and the browser tests share one server; the other worker meanwhile runs the in-process tests.
OWN_PROCESSES = (
    "tests/test_browser.py::",
    "tests/test_compute.py::",
    "tests/test_app_concurrency.py::",
    "tests/test_app.py::test_live_training",
    "tests/test_app.py::test_stopping_live_training",
    "tests/test_package.py::",
    "tests/test_memory.py::",
    "tests/test_cli.py::test_a_run_killed_mid_training",
    "tests/test_distributed.py::",
    "tests/test_store.py::",
    "tests/test_live_training.py::",
    "tests/test_room_browser.py::",
)


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log):
    """`--dist load` with OWN_PROCESSES as one unit of work, handed out first (it is the largest); every other
    test is a unit of its own. (Not `--dist loadgroup` with xdist_group marks: with pytest 9.2 it silently
    stops grouping, pytest-xdist issue #1386.)"""
    if config.getvalue("dist") != "load":
        return None
    from xdist.scheduler import LoadScopeScheduling

    class OwnProcessesTogether(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return "own processes" if nodeid.startswith(OWN_PROCESSES) else nodeid

    return OwnProcessesTogether(config, log)


@pytest.fixture(scope="session")
def split():
    """``load_split`` once per split and test process (decoding EMNIST's sprite sheets takes seconds)."""
    from hypermaml.data import load_split

    cache = {}

    def get(name: str):
        if name not in cache:
            cache[name] = load_split(name)
        return cache[name]

    return get


def tiny_conv_config(method: str, n_way: int = 3, n_shot: int = 2, batch_norm: str = "transductive", **kw) -> hm.ModelConfig:
    backbone = hm.BackboneConfig(
        kind="conv4", in_channels=1, hidden=8, input_mean=(0.5,), input_std=(0.25,), batch_norm=batch_norm
    )
    return hm.ModelConfig(method=method, n_way=n_way, n_shot=n_shot, backbone=backbone, **kw)


# Every method and adaptation mode whose inference must be pure and batch-independent, as tiny-config kwargs.
METHOD_VARIANTS = {
    "maml-all": dict(method="maml", maml=hm.MAMLConfig(adapt="all", inner_lr=0.3, test_steps=3)),
    "maml-head": dict(method="maml", maml=hm.MAMLConfig(adapt="head", inner_lr=0.3, test_steps=3)),
    "hypermaml": dict(method="hypermaml", hypermaml=hm.HyperMAMLConfig(hidden=16)),
    "protonet": dict(method="protonet"),
}


def linear_config(method: str, n_way: int = 2, n_shot: int = 1, **kw) -> hm.ModelConfig:
    """A linear classifier on raw 2-D points (identity backbone, no standardisation)."""
    backbone = hm.BackboneConfig(kind="identity", in_channels=2, input_mean=(0.0, 0.0), input_std=(1.0, 1.0))
    return hm.ModelConfig(method=method, n_way=n_way, n_shot=n_shot, backbone=backbone, **kw)


def image_episode(n_way: int = 3, n_shot: int = 2, n_query: int = 4, seed: int = 0) -> hm.Episode:
    g = torch.Generator().manual_seed(seed)
    return hm.Episode(
        support_x=torch.rand(n_way * n_shot, 1, 28, 28, generator=g),
        support_y=torch.arange(n_way).repeat_interleave(n_shot),
        query_x=torch.rand(n_way * n_query, 1, 28, 28, generator=g),
        query_y=torch.arange(n_way).repeat_interleave(n_query),
    )


@pytest.fixture
def episode() -> hm.Episode:
    return image_episode()


def stroke_png(seed: int) -> bytes:
    """A dark stroke on light paper as PNG bytes, different for every seed (a student's picture)."""
    import io

    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(seed)
    arr = np.full((40, 40), 255, np.uint8)
    r, c = rng.integers(2, 30, 2)
    arr[r : r + 8, c : c + 3] = 0
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="PNG")
    return buf.getvalue()


@pytest.fixture
def page_store(tmp_path, monkeypatch):
    """The store a studio page uses: a SQLite file of this test's own (the page caches one store per URL)."""
    monkeypatch.delenv("HYPERMAML_STUDIO_DB", raising=False)
    monkeypatch.setenv("HYPERMAML_STUDIO_DIR", str(tmp_path / "studio"))
    from app.store import Store, url_from_env

    s = Store.from_url(url_from_env())
    yield s
    s.close()
