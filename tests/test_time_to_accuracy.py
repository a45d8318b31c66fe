"""benchmarks/time_to_accuracy reads a run's log into a wall-time curve and finds where it crosses a target."""

import json

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
