"""benchmarks/time_to_accuracy reads a run's log into a wall-time curve and finds where it crosses a target."""

import json

import torch

from benchmarks.time_to_accuracy import at_time, curve, first_crossing


def test_the_curve_adds_up_training_seconds_and_finds_the_first_crossing(tmp_path):
    records = [
        {"epoch": 1, "seconds": 60.0, "val_mean": 0.70},
        {"epoch": 2, "seconds": 61.5, "val_mean": 0.80},
        {"epoch": 3, "seconds": 59.0, "val_mean": 0.78},
        {"epoch": 4, "seconds": 60.0, "val_mean": 0.81},
    ]
    (tmp_path / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    points = curve(tmp_path)
    assert [p["train_seconds"] for p in points] == [60.0, 121.5, 180.5, 240.5]
    assert first_crossing(points, 0.79)["epoch"] == 2
    assert first_crossing(points, 0.9) is None
    assert at_time(points, 150)["epoch"] == 2 and at_time(points, 30) is None


def test_a_row_trains_as_two_data_parallel_processes(tmp_path):
    """--processes 2 launches torchrun: the run folder records two processes, and its log has every epoch."""
    import torch

    from benchmarks.time_to_accuracy import train_row
    from tests.test_distributed import CONFIG  # a 3-way HyperMAML on 8 channels, digits for training and validation

    config = {**CONFIG, "train": {"episodes_per_epoch": 16, "meta_batch": 2, "n_query": 2, "val_episodes": 4}}
    path = tmp_path / "tiny.json"
    path.write_text(json.dumps(config))
    run_dir = train_row(str(path), 2.0, 1, 0, tmp_path / "runs", ["train.epochs=2"], processes=2)
    metrics = torch.load(run_dir / "best.pt", weights_only=True)["metrics"]
    assert metrics["world_size"] == 2 and metrics["epochs_run"] == 2
    assert [p["epoch"] for p in curve(run_dir)] == [1, 2]


def test_a_schedule_without_its_epochs_is_refused_before_anything_trains(monkeypatch, capsys):
    import pytest

    from benchmarks import time_to_accuracy

    monkeypatch.setattr(time_to_accuracy, "train_row", lambda *a, **k: pytest.fail("nothing should train"))
    monkeypatch.setattr("sys.argv", ["time_to_accuracy", "--set", "train.lr_schedule=cosine"])
    with pytest.raises(SystemExit) as stop:
        time_to_accuracy.main()
    assert stop.value.code == 2 and "needs --set train.epochs=N" in capsys.readouterr().err


def test_every_mistake_is_named_before_the_machine_is_timed_or_a_row_trains(tmp_path, monkeypatch, capsys):
    """A typo in the baseline's name was reported only after the first row had trained for its whole budget (15
    minutes by default); a typo in --set after the speed runs; a --from-run folder that does not exist ended in a
    traceback; a reused --runs-dir told the user to pass a --resume this script does not have."""
    import pytest

    from benchmarks import time_to_accuracy

    monkeypatch.setattr(time_to_accuracy, "train_row", lambda *a, **k: pytest.fail("nothing should train"))
    monkeypatch.setattr(time_to_accuracy, "machine_speed", lambda *a, **k: pytest.fail("nothing should be timed"))
    held = tmp_path / "runs" / "omniglot_emnist_hypermaml_1shot" / "seed0"
    held.mkdir(parents=True)
    (held / "last.pt").write_bytes(b"x")
    for argv, named in (
        (["--baseline", "omniglot_emnist_maml_1sht"], "row omniglot_emnist_maml_1sht: "),
        (["--set", "train.n_quer=5"], "n_quer"),
        (["--set", "train.epochs=0"], "row omniglot_emnist_hypermaml_1shot: "),  # the user's change comes last, as it trains
        (["--baseline", "omniglot_emnist_hypermaml_1shot"], "a row is given twice"),
        (["--json", str(tmp_path / "no" / "r.json")], f"the folder {tmp_path / 'no'} does not exist"),
        (["--from-run", str(tmp_path / "nowhere")], f"--from-run {tmp_path / 'nowhere'}: no run_config.json or metrics.jsonl"),
        (["--runs-dir", str(tmp_path / "runs")], "already holds a run: choose another --runs-dir"),
    ):
        monkeypatch.setattr("sys.argv", ["time_to_accuracy", *argv])
        with pytest.raises(SystemExit) as stop:
            time_to_accuracy.main()
        err = capsys.readouterr().err
        assert stop.value.code == 2 and named in err and "Traceback" not in err, (argv, err)
    # --device applies before the config's own checks, as in the training command: bfloat16 is a CUDA choice
    from types import SimpleNamespace

    cuda = SimpleNamespace(from_run=None, json=None, set=["train.precision=bfloat16"], device="cuda", seed=0)
    said = time_to_accuracy.preflight(cuda, ["omniglot_emnist_hypermaml_1shot"], None)
    if torch.cuda.is_available():
        assert said is None, said
    else:  # named as the machine's lack, not as the recipe's mistake
        assert "use --device cpu" in said and "CUDA only" not in said, said
    cpu = SimpleNamespace(**{**vars(cuda), "device": None})
    assert "CUDA only" in time_to_accuracy.preflight(cpu, ["omniglot_emnist_hypermaml_1shot"], None)


def _fake_run(run_dir):
    run_dir.mkdir(parents=True)
    records = [{"epoch": 1, "seconds": 30.0, "val_mean": 0.75}, {"epoch": 2, "seconds": 30.0, "val_mean": 0.8}]
    (run_dir / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    (run_dir / "run_config.json").write_text(json.dumps({"train": {"n_query": 5}}))
    return run_dir


def test_a_cpu_report_records_the_machine_speed_before_and_after_the_rows_train(tmp_path, monkeypatch, capsys):
    """Minutes mean little without the machine's speed at the time: the report measures it on both sides of
    the training (a bare Conv4 forward and backward) and names the stored speed table's figure beside it."""
    from benchmarks import time_to_accuracy

    order = []
    real_speed = time_to_accuracy.machine_speed

    def speed(threads, episodes):
        order.append(("speed", threads))
        return real_speed(threads, episodes, repeats=1)

    def train(name, *args, **kwargs):
        order.append(("train", name))
        return _fake_run(tmp_path / name)

    monkeypatch.setattr(time_to_accuracy, "machine_speed", speed)
    monkeypatch.setattr(time_to_accuracy, "train_row", train)
    argv = ["time_to_accuracy", "--baseline", "none", "--minutes", "1", "--test-episodes", "0", "--calibrate-episodes", "2"]
    monkeypatch.setattr("sys.argv", [*argv, "--threads", "1"])
    time_to_accuracy.main()
    out = capsys.readouterr().out
    report = json.loads(out.strip().splitlines()[-1])
    assert order == [("speed", 1), ("train", "omniglot_emnist_hypermaml_1shot"), ("speed", 1)]
    measured = report["machine_speed"]
    assert measured["conv4_episodes_per_s_before"] > 0 and measured["conv4_episodes_per_s_after"] > 0
    assert measured["threads"] == 1
    stored = json.loads((time_to_accuracy.DOCS / "speed.json").read_text())
    assert measured["stored_speed_table"]["conv4_episodes_per_s"] == stored["conv4_fwd_bwd_episodes_per_s"]
    assert "machine speed (bare Conv4" in out

    # runs read from their folders were made at another time: no speed is claimed for them
    order.clear()
    monkeypatch.setattr(
        "sys.argv", ["time_to_accuracy", "--from-run", str(tmp_path / "omniglot_emnist_hypermaml_1shot"), "--test-episodes", "0"]
    )
    time_to_accuracy.main()
    assert order == [] and "machine_speed" not in json.loads(capsys.readouterr().out.strip().splitlines()[-1])


def test_the_stored_rows_are_the_numbers_the_reproduce_page_gives():
    """Every row docs/reproduce.md's time-to-79% table cites from a stored report (the page's figure and the rows
    kept apart) shows that report's best validation and test score."""
    from benchmarks.time_to_accuracy import DOCS

    page = (DOCS / "reproduce.md").read_text()
    table = [line for line in page.splitlines() if line.startswith("| ") and "| test, one at a time |" not in line]
    reports = sorted(p for p in DOCS.glob("time_to_accuracy*.json") if "cuda" not in p.name)
    assert len(reports) >= 4
    for path in reports:
        for row in json.loads(path.read_text())["rows"]:
            val = f"{100 * row['best_val']['val_mean']:.2f}% (epoch {row['best_val']['epoch']}"
            test = row.get("test_alone")
            cells = [line for line in table if val in line]
            assert cells, (path.name, row["row"], val)
            if test:
                assert any(f"{test['test_mean_pct']:.2f} ± {test['test_ci95_pct']:.2f}" in line for line in cells), (
                    path.name,
                    row["row"],
                )
