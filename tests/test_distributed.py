"""Data-parallel meta-training on torch.distributed (gloo), launched the way users launch it: torchrun.

Each test starts real processes (`python -m torch.distributed.run`, torchrun's module form), so these run
together on one pytest-xdist worker (conftest's OWN_PROCESSES).
"""

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import torch

import hypermaml as hm
from hypermaml.cli import main
from hypermaml.training import episode_generator

ROOT = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
TORCHRUN = [sys.executable, "-m", "torch.distributed.run", "--standalone"]

# The tiny training both sides of the equality run: float64, so that the few parameters whose true gradient is
# zero (a convolution bias before batch norm) get 1e-17 noise, which Adam leaves near zero, rather than 1e-9 noise
# it would scale up to full-size steps.
SETUP = """
import torch
import hypermaml as hm
from hypermaml.data import load_split

def setup(method, meta_batch):
    data = load_split("digits")
    sampler = hm.EpisodeSampler(data.x.double(), data.y, 3, 1, 3)
    backbone = hm.BackboneConfig(hidden=8, input_mean=(0.7,), input_std=(0.4,), batch_norm="metabn")
    torch.manual_seed(0)
    model = hm.build_model(hm.ModelConfig(method=method, n_way=3, n_shot=1, backbone=backbone,
                                          maml=hm.MAMLConfig(train_steps=2), hypermaml=hm.HyperMAMLConfig(hidden=16)))
    cfg = hm.TrainConfig(epochs=2, episodes_per_epoch=12, meta_batch=meta_batch, val_episodes=0, seed=3)
    return model.double(), sampler, cfg
"""


class Interleaved:
    """One process's sampler that draws, per optimiser step, ``per_rank`` episodes from each rank's stream in
    rank order: the episodes a data-parallel run's ranks draw, in the order its averaged gradient sums them."""

    def __init__(self, sampler, seed: int, world_size: int, per_rank: int) -> None:
        self.sampler, self.per_rank = sampler, per_rank
        self.streams = [episode_generator(seed, r) for r in range(world_size)]
        self.calls = 0

    def sample(self, generator):
        rank = (self.calls // self.per_rank) % len(self.streams)
        self.calls += 1
        return self.sampler.sample(self.streams[rank])


def test_two_gloo_processes_with_meta_batch_b_equal_one_process_with_meta_batch_2b(tmp_path):
    (tmp_path / "setup_models.py").write_text(SETUP)
    (tmp_path / "worker.py").write_text(
        textwrap.dedent(
            """
            import sys, torch, torch.distributed as dist
            import hypermaml as hm
            from setup_models import setup
            dist.init_process_group("gloo")
            for method in ("hypermaml", "maml"):
                model, sampler, cfg = setup(method, meta_batch=2)
                result = hm.meta_train(model, sampler, cfg, progress=False)
                if dist.get_rank() == 0:
                    torch.save({"state": model.state_dict(), "world_size": model.metrics["world_size"]},
                               f"{sys.argv[1]}/{method}.pt")
            hm.training.leave_process_group()
            """
        )
    )
    done = subprocess.run(
        [*TORCHRUN, "--nproc_per_node=2", str(tmp_path / "worker.py"), str(tmp_path)],
        env={**ENV, "PYTHONPATH": f"{tmp_path}{os.pathsep}{ROOT}"},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    namespace: dict = {}
    exec(SETUP, namespace)
    for method in ("hypermaml", "maml"):
        model, sampler, cfg = namespace["setup"](method, meta_batch=4)
        start = {k: v.clone() for k, v in model.state_dict().items()}
        hm.meta_train(model, Interleaved(sampler, cfg.seed, world_size=2, per_rank=2), cfg, progress=False)
        parallel = torch.load(tmp_path / f"{method}.pt", weights_only=True)
        assert parallel["world_size"] == 2
        moved = 0
        for key, value in model.state_dict().items():
            assert torch.allclose(parallel["state"][key], value, atol=1e-9, rtol=1e-7), (method, key)
            moved += int(not torch.equal(value, start[key]))
        assert moved > 10  # the training did change the weights


CONFIG = {
    "model": {
        "method": "hypermaml",
        "n_way": 3,
        "n_shot": 1,
        "backbone": {"kind": "conv4", "hidden": 8, "input_mean": [0.7], "input_std": [0.4], "batch_norm": "metabn"},
        "hypermaml": {"hidden": 16},
    },
    "train": {"epochs": 3, "episodes_per_epoch": 80, "meta_batch": 2, "n_query": 3, "val_episodes": 5},
    "data": {"train": "digits", "val": "digits"},
}


def descendants(pid: int) -> list[int]:
    """The processes below ``pid`` (children first), from /proc."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:  # ended meanwhile
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found, todo = [], [pid]
    while todo:
        kids = children.get(todo.pop(), [])
        found += kids
        todo += kids
    return found


def torchrun_train(config: Path, run_dir: Path, *extra: str, nproc: int = 2) -> list[str]:
    return [*TORCHRUN, f"--nproc_per_node={nproc}", "-m", "hypermaml", "train", "--config", str(config),
            "--run-dir", str(run_dir), "--no-progress", *extra]  # fmt: skip


def test_a_two_process_run_killed_and_resumed_equals_an_uninterrupted_one_and_only_rank_0_writes(tmp_path, capsys):
    config = tmp_path / "c.json"
    config.write_text(json.dumps(CONFIG))
    straight = subprocess.run(torchrun_train(config, tmp_path / "straight"), env=ENV, capture_output=True, text=True, timeout=300)
    assert straight.returncode == 0, straight.stderr[-3000:]
    # Only rank 0 prints and writes: one line per epoch, one log line per epoch, no other file.
    assert [line.split()[0] for line in straight.stdout.splitlines() if line.startswith("epoch=")] == [
        "epoch=1",
        "epoch=2",
        "epoch=3",
    ]
    assert sorted(p.name for p in (tmp_path / "straight").iterdir()) == ["best.pt", "last.pt", "metrics.jsonl", "run_config.json"]
    assert len((tmp_path / "straight" / "metrics.jsonl").read_text().splitlines()) == 3
    last = torch.load(tmp_path / "straight" / "last.pt", weights_only=True)
    assert last["world_size"] == 2 and len(last["generators"]) == 2
    assert not torch.equal(last["generators"][0], last["generators"][1])  # two distinct episode streams
    assert hm.load(tmp_path / "straight" / "best.pt").metrics["world_size"] == 2

    run = tmp_path / "killed"
    proc = subprocess.Popen(
        torchrun_train(config, run), env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
    )
    deadline = time.time() + 300
    while not (run / "last.pt").is_file():  # epoch 1 saved (written atomically, after its log line)
        assert time.time() < deadline and proc.poll() is None, "the run ended before it could be killed"
        time.sleep(0.05)
    # torchrun starts each rank in a session of its own, so killing torchrun's process group leaves the ranks
    # training on to the end (the resume then had nothing left to do): kill the ranks themselves, mid-run
    for pid in [*descendants(proc.pid), proc.pid]:
        os.kill(pid, signal.SIGKILL)
    proc.wait()
    done = torch.load(run / "last.pt", weights_only=True)["epoch"]
    assert done < 3
    resumed = subprocess.run(torchrun_train(config, run, "--resume"), env=ENV, capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    epochs = [line.split()[0] for line in resumed.stdout.splitlines() if line.startswith("epoch=")]
    assert epochs == [f"epoch={e}" for e in range(done + 1, 4)], epochs  # went on from the saved epoch, no restart

    a = torch.load(tmp_path / "straight" / "last.pt", weights_only=True)
    b = torch.load(run / "last.pt", weights_only=True)
    assert [r["loss"] for r in a["history"]] == pytest.approx([r["loss"] for r in b["history"]], abs=1e-6)
    for key in a["model"]:
        assert torch.allclose(a["model"][key], b["model"][key], atol=1e-6), key

    # Resuming with another number of processes is refused in one line, before anything is loaded or written.
    before = {p.name: p.stat().st_mtime_ns for p in run.iterdir()}
    capsys.readouterr()
    assert main(["train", "--config", str(config), "--run-dir", str(run), "--resume", "--no-progress"]) == 2
    said = capsys.readouterr()
    assert [line for line in (said.out + said.err).splitlines() if line.strip()] == [
        f"error: cannot resume {run}: this run was trained by 2 process(es) and is resumed by 1: resume it with 2 "
        "(torchrun --nproc_per_node=2), since each process's episode stream continues where it stopped"
    ]
    assert {p.name: p.stat().st_mtime_ns for p in run.iterdir()} == before


def test_a_single_process_run_resumed_by_two_processes_is_refused_once(tmp_path, capsys):
    config = tmp_path / "c.json"
    config.write_text(json.dumps({**CONFIG, "train": {**CONFIG["train"], "epochs": 1, "episodes_per_epoch": 4}}))
    assert main(["train", "--config", str(config), "--run-dir", str(tmp_path / "one"), "--no-progress"]) == 0
    refused = subprocess.run(
        torchrun_train(config, tmp_path / "one", "--resume"), env=ENV, capture_output=True, text=True, timeout=300
    )
    assert refused.returncode != 0
    errors = [line for line in (refused.stdout + refused.stderr).splitlines() if line.startswith("error:")]
    assert errors == [
        f"error: cannot resume {tmp_path / 'one'}: this run was trained by 1 process(es) and is resumed by 2: resume it "
        "with 1 (torchrun --nproc_per_node=1), since each process's episode stream continues where it stopped"
    ]


def test_the_data_parallel_benchmark_measures_both_launches_in_one_run():
    # Keys and signs only (timing is never asserted): a narrow Conv4 and a few episodes.
    from benchmarks import data_parallel

    report = data_parallel.measure(processes=2, episodes=8, rounds=1, hidden=8)
    assert report["processes"] == 2 and report["threads_per_process"] == 1
    for key in ("episodes_per_s", "one_process_episodes_per_s", "independent_processes_episodes_per_s"):
        assert report[key] > 0
    assert report["scaling_efficiency"] == pytest.approx(
        report["episodes_per_s"] / (2 * report["one_process_episodes_per_s"]), abs=0.01
    )


def test_rank_reports_run_into_one_line_by_two_processes_are_both_read():
    from benchmarks.data_parallel import _rank_reports

    out = 'W1128 warning\n{"rank": 1, "episodes_per_s": 41.3}{"rank": 0, "episodes_per_s": 40.5}\n\n{"rank": 2, "episodes_per_s": 1.0}\n'
    assert [r["rank"] for r in _rank_reports(out)] == [1, 0, 2]
    assert sum(r["episodes_per_s"] for r in _rank_reports(out)) == 82.8
