"""Live training of the three toy models for one visitor, in a child process.

A child process, not a thread: training is mostly Python overhead on tiny tensors, and a thread would hold
the interpreter lock that every other visitor's page needs. The child runs at a lower priority and inherits
the server's torch thread count (``./run_app.sh``), so the studio stays responsive; the visitor's page polls its progress, so touching a widget
(a rerun) neither stops nor loses the training. Nothing here imports Streamlit.
"""

from __future__ import annotations

import dataclasses
import io
import multiprocessing as mp
import os
import queue as queue_module
import threading
import time
import weakref
from dataclasses import dataclass, field

import torch

import hypermaml as hm
from hypermaml.config import ModelConfig, from_dict, to_dict

LIVE_SCALE = 3  # a third of the documented recipe's episodes
PROGRESS_EVERY = 25  # optimiser steps between progress messages


def _child(scale: int, out: mp.Queue) -> None:
    """Train every toy recipe; report ("progress", name, step, total, loss) and finally ("done", models)."""
    from toy.tasks import ToyTaskSampler
    from toy.train import N_SHOT, recipes

    try:
        os.nice(10)  # visitors' page computations come first
    except OSError:
        pass
    try:
        trained = {}
        for name, recipe in recipes(scale).items():
            # validation shrinks with the episodes when a test asks for a tiny run (unchanged at LIVE_SCALE)
            train_cfg = dataclasses.replace(recipe.train, val_episodes=min(recipe.train.val_episodes, 600 // scale))
            torch.manual_seed(recipe.train.seed)
            model = hm.build_model(recipe.model)

            def on_step(step: int, total: int, loss: float, acc: float, name: str = name) -> None:
                if step % PROGRESS_EVERY == 0 or step == total:
                    out.put(("progress", name, step, total, loss))

            sampler = ToyTaskSampler(N_SHOT, recipe.train.n_query)
            hm.meta_train(model, sampler, train_cfg, val_sampler=sampler, progress=False, on_step=on_step)
            buffer = io.BytesIO()  # plain bytes: tensors sent through a queue would be shared by file descriptor
            torch.save(model.state_dict(), buffer)
            trained[name] = (to_dict(model.config), buffer.getvalue())
        out.put(("done", trained))
    except Exception as exc:  # noqa: BLE001 - reported to the page
        out.put(("error", f"{type(exc).__name__}: {exc}"))


_reaper_started = False
_reaper_lock = threading.Lock()


def _reap_forever(every: float) -> None:
    """Collect the exit status of finished children (``active_children`` joins them): a visitor who left
    before their training ended never polls it again, and its finished child would stay a zombie."""
    while True:
        time.sleep(every)
        mp.active_children()


def _start_reaper(every: float = 2.0) -> None:
    global _reaper_started
    with _reaper_lock:
        if not _reaper_started:
            threading.Thread(target=_reap_forever, args=(every,), daemon=True, name="live-training-reaper").start()
            _reaper_started = True


def _end(process) -> None:
    """A run whose page is gone (its session state was released): stop its child if it still runs."""
    if process.is_alive():
        process.terminate()
    process.join(timeout=5)


def plan(scale: int = LIVE_SCALE) -> dict[str, int]:
    """Optimiser steps per model, for the progress bar."""
    from toy.train import recipes

    return {n: r.train.epochs * max(1, r.train.episodes_per_epoch // r.train.meta_batch) for n, r in recipes(scale).items()}


@dataclass
class LiveTraining:
    """One visitor's training run: start it, poll it on every rerun, read ``models`` when ``done``."""

    scale: int = LIVE_SCALE
    totals: dict[str, int] = field(default_factory=dict)
    curves: dict[str, list[float]] = field(default_factory=dict)
    steps: dict[str, int] = field(default_factory=dict)
    started: float = 0.0
    finished: float | None = None
    models: dict[str, hm.FewShotModel] | None = None
    error: str | None = None
    stopped: bool = False

    def __post_init__(self) -> None:
        self.totals = plan(self.scale)
        self.curves = {n: [] for n in self.totals}
        self.steps = {n: 0 for n in self.totals}
        ctx = mp.get_context("spawn")  # no forked copy of the server's threads and locks
        self._queue = ctx.Queue()
        self._process = ctx.Process(target=_child, args=(self.scale, self._queue), daemon=True)
        self.started = time.perf_counter()
        self._process.start()
        _start_reaper()
        # the visitor leaves: Streamlit drops their session state, and with it this object; the child goes too
        self._finalizer = weakref.finalize(self, _end, self._process)

    @property
    def running(self) -> bool:
        return self.finished is None

    @property
    def fraction(self) -> float:
        return sum(self.steps.values()) / max(1, sum(self.totals.values()))

    @property
    def seconds(self) -> float:
        return (self.finished or time.perf_counter()) - self.started

    def poll(self) -> None:
        """Take in whatever the child reported since the last poll (never blocks)."""
        while self.running:
            try:
                message = self._queue.get_nowait()
            except queue_module.Empty:
                if not self._process.is_alive() and self._queue.empty():
                    self.error = self.error or f"the training process ended unexpectedly (exit code {self._process.exitcode})"
                    self.finished = time.perf_counter()
                return
            kind = message[0]
            if kind == "progress":
                _, name, step, _total, loss = message
                self.steps[name] = step
                self.curves[name].append(loss)
            elif kind == "done":
                models = {}
                for name, (config, state) in message[1].items():
                    model = hm.build_model(from_dict(ModelConfig, config))
                    model.load_state_dict(torch.load(io.BytesIO(state), weights_only=True))
                    models[name] = model.eval()
                self.models = models
                self.finished = time.perf_counter()
                self._process.join(timeout=5)  # it exits right after its last message
            else:
                self.error = message[1]
                self.finished = time.perf_counter()
                self._process.join(timeout=5)

    def stop(self) -> None:
        """Stop the run (the page says so); nothing is kept."""
        if self.running:
            self._process.terminate()
            self._process.join(timeout=5)
            self.stopped = True
            self.finished = time.perf_counter()

    def wait(self, timeout: float = 600.0) -> None:
        """Block until the run ends (tests, scripts)."""
        deadline = time.perf_counter() + timeout
        while self.running and time.perf_counter() < deadline:
            self.poll()
            time.sleep(0.2)
