"""benchmarks/from_scratch.py and benchmarks/paired.py: what the README's seed and paired tables are made of."""

import json
import statistics

import numpy as np
import pytest

import hypermaml as hm
from benchmarks.from_scratch import markdown
from benchmarks.paired import paired


def run(seed, epochs_run, val, test=None, epochs=40):
    report = {"seed": seed, "epochs_run": epochs_run, "epochs": epochs, "best_val": val, "best_epoch": epochs_run}
    report["train_minutes_to_best"] = 10.0
    if test is not None:
        report["test"] = {"test_mean_pct": 100 * test, "test_ci95_pct": 0.8, "episodes": 600}  # time_to_accuracy.test_score
    return report


def test_runs_still_training_are_listed_but_left_out_of_the_mean_over_seeds():
    rows = {
        "omniglot_emnist_hypermaml_1shot": {
            "runs": [run(0, 40, 0.80, 0.83), run(1, 40, 0.78, 0.82), run(2, 3, 0.60, 0.70)],
            "shipped": {"val": 0.81, "test_mean": 0.8273, "test_ci95": 0.0076},
        }
    }
    seeds, summary = markdown(rows)
    assert seeds.count("| omniglot_emnist_hypermaml_1shot |") == 3 and "3 of 40" in seeds
    line = summary.splitlines()[-1]
    assert "79.00 ± 1.41 (2 seeds)" in line and "82.50 ± 0.71 (2 seeds)" in line  # seeds 0 and 1 only
    assert "seed 2 at epoch 3" in line and "no: validation below the shipped" in line
    rows["omniglot_emnist_hypermaml_1shot"]["runs"][1] = run(1, 40, 0.82, 0.84)
    assert markdown(rows)[1].splitlines()[-1].endswith("| yes |")  # a finished seed reaching the shipped validation
    rows["omniglot_emnist_hypermaml_1shot"]["shipped"] |= {"val": 0.82, "scratch_seed": 1}  # and shipped
    assert markdown(rows)[1].splitlines()[-1].endswith("| shipped: seed 1 |")


def test_nothing_finished_says_so_and_ships_nothing():
    rows = {
        "omniglot_emnist_protonet_1shot": {
            "runs": [run(0, 7, 0.76)],
            "shipped": {"val": 0.79, "test_mean": 0.84, "test_ci95": 0.0076},
        }
    }
    line = markdown(rows)[1].splitlines()[-1]
    assert "none finished" in line and "seed 0 at epoch 7" in line and line.endswith("| — |")


def test_a_paired_difference_is_taken_episode_by_episode():
    a = np.array([1.0, 0.8, 0.6, 1.0])
    b = np.array([0.8, 0.8, 0.4, 1.0])
    result = paired(a, b)
    assert result["mean_diff"] == pytest.approx(0.1)
    assert result["ci95"] == pytest.approx(1.96 * np.std(a - b, ddof=1) / 2)
    assert (result["a_wins"], result["ties"], result["b_wins"]) == (0.5, 0.5, 0.0)


def test_a_sweep_trains_each_variant_once_and_compares_it_with_base_on_fresh_validation(tmp_path, capsys):
    from benchmarks import sweep

    runs = tmp_path / "runs"
    tiny = ["--set", "train.episodes_per_epoch=2", "--set", "train.val_episodes=4", "--set", "train.meta_batch=1"]
    argv = ["--runs-dir", str(runs), "--epochs", "1", "--fresh-episodes", "6", *tiny, "--only", "base", "--only", "depth-1"]
    argv += ["--base-seeds", "2"]
    sweep.main(argv)
    out = capsys.readouterr().out.splitlines()
    rows = [json.loads(line) for line in out if line.startswith('{"variant"')]
    assert [(r["variant"], r["seed"]) for r in rows] == [("base", 0), ("depth-1", 0), ("base-seed1", 1)]
    assert all(r["epochs_run"] == 1 and r["fresh_val"]["episodes"] == 6 for r in rows)
    assert hm.load(runs / "depth-1" / "best.pt").config.hypermaml.n_hidden_layers == 1
    assert hm.load(runs / "base" / "best.pt").config.hypermaml.n_hidden_layers == 2
    assert json.loads((runs / "base-seed1" / "run_config.json").read_text())["train"]["seed"] == 1
    stamp = (runs / "base" / "best.pt").stat().st_mtime_ns
    sweep.main(argv)  # finished variants are read, not trained again
    assert (runs / "base" / "best.pt").stat().st_mtime_ns == stamp
    result = json.loads(capsys.readouterr().out.splitlines()[-1])
    lines = sweep.table(rows, result | {"machine": "x86_64, 2 cores"}).splitlines()
    assert "train.episodes_per_epoch=2" in lines[0] and "python -m benchmarks.sweep --runs-dir" in lines[0]
    assert lines[4].startswith("| base | — |") and "| — |" in lines[4]
    delta = rows[1]["fresh_val"]["mean_pct"] - rows[0]["fresh_val"]["mean_pct"]
    assert lines[5].startswith("| depth-1 | `model.hypermaml.n_hidden_layers=1` |") and f"| {delta:+.2f} |" in lines[5]
    assert lines[6].startswith("| base-seed1 | — (seed 1) |")
    spread = statistics.stdev([rows[0]["fresh_val"]["mean_pct"], rows[2]["fresh_val"]["mean_pct"]])
    assert lines[-1].startswith("`base` over its 2 seeds") and f"± {spread:.2f}" in lines[-1]


def test_methods_are_compared_over_finished_seeds_with_welchs_interval():
    from benchmarks.from_scratch import over_seeds

    rows = {
        "omniglot_emnist_hypermaml_1shot": {"runs": [run(s, 40, 0.8, t) for s, t in enumerate([0.83, 0.84, 0.85])]},
        "omniglot_emnist_protonet_1shot": {
            "runs": [run(0, 40, 0.8, 0.86), run(1, 40, 0.8, 0.85), run(2, 40, 0.8, 0.87), run(3, 5, 0.7, 0.50)]
        },
        "omniglot_emnist_maml_1shot": {"runs": [run(0, 40, 0.7, 0.75)]},  # one seed: no interval
    }
    for row in rows.values():
        row["shipped"] = None
    (d,) = over_seeds(rows)
    # means 0.84 and 0.86 (seed 3 is still training), both variances 1e-4: standard error sqrt(2e-4 / 3) on
    # Welch's 4 degrees of freedom, whose 97.5% t quantile is 2.7764
    half = 2.7764 * (2e-4 / 3) ** 0.5
    assert (d["other"], d["shots"], d["seeds"]) == ("protonet", 1, (3, 3))
    assert d["diff"] == pytest.approx(-0.02)
    assert (d["low"], d["high"]) == pytest.approx((-0.02 - half, -0.02 + half), abs=1e-5)
    summary = markdown(rows)[1]
    assert "HyperMAML − ProtoNet = -2.00 points, 95% interval [-4.27, +0.27]" in summary
    assert "MAML =" not in summary


def test_only_finished_seeds_are_offered_for_shipping_and_only_if_their_validation_reaches_the_shipped(tmp_path):
    from benchmarks.from_scratch import ship_check

    def seed_dir(seed, vals, epochs=3):
        d = tmp_path / "cfg" / f"seed{seed}"
        d.mkdir(parents=True)
        (d / "run_config.json").write_text(json.dumps({"train": {"epochs": epochs}}))
        history = [{"epoch": i + 1, "seconds": 1.0, "val_mean": v} for i, v in enumerate(vals)]
        (d / "metrics.jsonl").write_text("".join(json.dumps(h) + "\n" for h in history))
        (d / "best.pt").write_bytes(b"")  # read only when a test score is asked for

    seed_dir(0, [0.70, 0.78, 0.76])
    seed_dir(1, [0.71, 0.90])  # still training: its 0.90 does not count
    seed_dir(2, [0.72, 0.74, 0.80])
    assert ship_check("cfg", tmp_path, ship={"val": 0.80}) == ([0, 2], True)
    assert ship_check("cfg", tmp_path, ship={"val": 0.81}) == ([0, 2], False)
    assert ship_check("cfg", tmp_path, ship={}) == ([0, 2], True)  # nothing shipped yet
    assert ship_check("none", tmp_path, ship={}) == ([], False)
