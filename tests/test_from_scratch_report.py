"""benchmarks/from_scratch.py and benchmarks/paired.py: what the README's seed and paired tables are made of."""

import json
import statistics

import numpy as np
import pytest
import torch

import hypermaml as hm
from benchmarks.from_scratch import markdown
from benchmarks.paired import paired


def run(seed, epochs_run, val, test=None, epochs=40, common=None):
    report = {"seed": seed, "epochs_run": epochs_run, "epochs": epochs, "best_val": val, "best_epoch": epochs_run}
    report["train_minutes_to_best"] = 10.0
    if test is not None:
        report["test"] = {"test_mean_pct": 100 * test, "test_ci95_pct": 0.8, "episodes": 600}  # time_to_accuracy.test_score
    if common is not None:
        report["common_val"] = common
    return report


def test_runs_still_training_are_listed_but_left_out_of_the_mean_over_seeds():
    rows = {
        "omniglot_emnist_hypermaml_1shot": {
            "runs": [run(0, 40, 0.80, 0.83, common=0.79), run(1, 40, 0.78, 0.82, common=0.77), run(2, 3, 0.60, 0.70)],
            "shipped": {"val": 0.81, "common_val": 0.795, "test_mean": 0.8273, "test_ci95": 0.0076},
        }
    }
    seeds, summary = markdown(rows)
    assert seeds.count("| omniglot_emnist_hypermaml_1shot |") == 3 and "3 of 40" in seeds
    assert "| 40 (10) | 79.00 | 83.00 ± 0.80 |" in seeds  # the common validation beside the own-episode one
    line = summary.splitlines()[-1]
    assert "79.00 ± 1.41 (2 seeds)" in line and "82.50 ± 0.71 (2 seeds)" in line  # seeds 0 and 1 only
    assert "seed 2 at epoch 3" in line and "| 79.00 (seed 0) / 79.50 |" in line and line.endswith("| no: below the shipped |")
    # The rule reads the common episodes, not each run's own: seed 1's own 0.78 is below seed 0's 0.80, but on the
    # common episodes it is the best and reaches the shipped checkpoint.
    rows["omniglot_emnist_hypermaml_1shot"]["runs"][1] = run(1, 40, 0.78, 0.84, common=0.80)
    assert markdown(rows)[1].splitlines()[-1].endswith("| yes: seed 1 |")
    rows["omniglot_emnist_hypermaml_1shot"]["shipped"] |= {"common_val": 0.80, "scratch_seed": 1}  # and shipped
    assert markdown(rows)[1].splitlines()[-1].endswith("| shipped: seed 1 |")
    rows["omniglot_emnist_hypermaml_1shot"]["shipped"]["scratch_seed"] = 0  # another seed shipped before: re-ship
    assert markdown(rows)[1].splitlines()[-1].endswith("| yes: seed 1 |")


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


def seed_dir(root, seed, vals, epochs=3):
    d = root / "cfg" / f"seed{seed}"
    d.mkdir(parents=True)
    (d / "run_config.json").write_text(json.dumps({"train": {"epochs": epochs}}))
    history = [{"epoch": i + 1, "seconds": 1.0, "val_mean": v} for i, v in enumerate(vals)]
    (d / "metrics.jsonl").write_text("".join(json.dumps(h) + "\n" for h in history))
    (d / "best.pt").write_bytes(b"")  # read only by the score
    return d


def test_the_finished_seed_best_on_common_validation_is_shipped_if_it_reaches_the_shipped(tmp_path, monkeypatch):
    import benchmarks.from_scratch as fs

    monkeypatch.setattr(fs, "ROOT", tmp_path)
    seed_dir(tmp_path, 0, [0.70, 0.80, 0.76])  # the best own validation
    seed_dir(tmp_path, 1, [0.71, 0.90])  # still training: not a seed yet
    seed_dir(tmp_path, 2, [0.72, 0.74, 0.78])
    (tmp_path / "cfg" / "seed0.bak").mkdir()  # not a seed folder
    common = {"seed0": 0.77, "seed2": 0.79, "pretrained": 0.785}

    def score(path):
        return common[path.parent.name]

    check = fs.ship_check("cfg", tmp_path, score)
    assert check["seeds"] == [0, 2] and check["shipped"] is None  # nothing shipped yet
    assert check["best_seed"] == 2 and check["allowed"]  # seed 2: lower on its own episodes, higher on the common ones
    (tmp_path / "pretrained").mkdir()
    (tmp_path / "pretrained" / "cfg.pt").write_bytes(b"")
    check = fs.ship_check("cfg", tmp_path, score)
    assert (check["best_seed"], check["shipped"], check["allowed"]) == (2, 0.785, True)
    common["pretrained"] = 0.80
    assert not fs.ship_check("cfg", tmp_path, score)["allowed"]
    nothing = fs.ship_check("none", tmp_path, score)
    assert nothing["seeds"] == [] and nothing["best_seed"] is None and not nothing["allowed"]


@pytest.mark.parametrize(("shipped", "status", "lines"), [(None, 0, ["0 2", "2"]), (0.80, 3, ["0 2", "2"])])
def test_ship_check_prints_the_seeds_and_the_chosen_one_and_exits_3_when_the_rule_refuses(
    tmp_path, monkeypatch, capsys, shipped, status, lines
):
    import benchmarks.from_scratch as fs

    monkeypatch.setattr(fs, "ROOT", tmp_path)
    seed_dir(tmp_path, 0, [0.70, 0.80, 0.76])
    seed_dir(tmp_path, 2, [0.72, 0.74, 0.78])
    if shipped is not None:
        (tmp_path / "pretrained").mkdir()
        (tmp_path / "pretrained" / "cfg.pt").write_bytes(b"")
    monkeypatch.setattr(fs, "common_val", lambda path: {"seed0": 0.77, "seed2": 0.79, "pretrained": shipped}[path.parent.name])
    out = tmp_path / "selection.json"
    monkeypatch.setattr("sys.argv", ["from_scratch", "--ship-check", "cfg", "--runs", str(tmp_path), "--selection-out", str(out)])
    code = 0
    try:
        fs.main()
    except SystemExit as stop:
        code = stop.code
    assert code == status and capsys.readouterr().out.splitlines() == lines
    assert json.loads(out.read_text())["scores"] == {"0": 0.77, "2": 0.79}
    monkeypatch.setattr("sys.argv", ["from_scratch", "--ship-check", "other", "--runs", str(tmp_path)])
    with pytest.raises(SystemExit, match="no seed of other"):  # nothing finished: exit status 1
        fs.main()


def test_common_validation_is_the_same_episodes_for_every_checkpoint_and_cached(tmp_path, monkeypatch):
    import benchmarks.from_scratch as fs
    from tests.conftest import tiny_conv_config

    monkeypatch.setattr(fs, "CACHE", tmp_path / "cache.json")
    paths = []
    for seed in (0, 1):
        torch.manual_seed(seed)
        paths.append(tmp_path / f"m{seed}.pt")
        hm.save(hm.build_model(tiny_conv_config("protonet", n_way=5, n_shot=1, batch_norm="metabn")), paths[-1])
    real, seeds = fs.hm.evaluate, []

    def counting(*args, **kwargs):
        seeds.append(kwargs["seed"])
        return real(*args, **kwargs)

    monkeypatch.setattr(fs.hm, "evaluate", counting)
    first = [fs.common_val(p, episodes=4) for p in paths]
    assert seeds == [fs.COMMON_SEED, fs.COMMON_SEED] and all(0 <= v <= 1 for v in first)
    assert [fs.common_val(p, episodes=4) for p in paths] == first and len(seeds) == 2  # from the cache
    hm.save(hm.load(paths[0]), paths[0], metrics={"rewritten": True})  # a new file at that path: scored again
    fs.common_val(paths[0], episodes=4)
    assert len(seeds) == 3


def test_a_shipped_seed_keeps_the_common_validation_score_it_was_chosen_by(tmp_path, monkeypatch):
    """Rewriting the tables right after shipping scored the imported checkpoint on the 1,000 common episodes again
    (the same weights its seed had just been scored with): a quarter of an hour for MAML 5-shot."""
    import benchmarks.from_scratch as fs
    from tests.conftest import tiny_conv_config

    monkeypatch.setattr(fs, "ROOT", tmp_path)
    scored = []
    monkeypatch.setattr(fs, "common_val", lambda path: scored.append(path) or 0.5)
    (tmp_path / "pretrained").mkdir()
    model = hm.build_model(tiny_conv_config("protonet", n_way=5, n_shot=1, batch_norm="metabn"))
    episodes = f"{fs.COMMON_EPISODES} EMNIST-validation episodes, seed {fs.COMMON_SEED}"
    chosen = {"common_validation": episodes, "seeds": [0, 1], "scores": {"0": 0.79, "1": 0.81}, "best_seed": 1}

    def ship(seed, init_from=None, **changes):
        run_config = {"train": {"seed": seed, "init_from": init_from}}
        hm.save(
            model,
            tmp_path / "pretrained" / "cfg.pt",
            metrics={"run_config": run_config, "chosen_by_common_validation": chosen | changes},
        )
        return fs.shipped("cfg")

    assert ship(1)["common_val"] == 0.81 and ship(1)["scratch_seed"] == 1 and scored == []
    assert ship(0)["common_val"] == 0.5 and len(scored) == 1  # not the seed chosen
    assert ship(1, common_validation="200 EMNIST-validation episodes, seed 7")["common_val"] == 0.5  # other episodes
    assert ship(1, init_from="pretrained/transductive/cfg.pt")["common_val"] == 0.5  # fine-tuned: not a seed
    assert len(scored) == 3


def test_a_run_in_its_first_epoch_is_listed_as_training(tmp_path):
    from benchmarks.from_scratch import config_runs

    config = {"train": {"epochs": 40}}
    for seed in (0, 1, 2):
        (tmp_path / f"seed{seed}").mkdir()
    (tmp_path / "seed0" / "run_config.json").write_text(json.dumps(config))  # validated epoch 1: a report of its own
    (tmp_path / "seed0" / "metrics.jsonl").write_text(json.dumps({"epoch": 1, "seconds": 60, "val_mean": 0.7}) + "\n")
    (tmp_path / "seed0" / "best.pt").write_bytes(b"")
    (tmp_path / "seed1" / "run_config.json").write_text(json.dumps(config))  # begun, no epoch yet
    runs, started = config_runs(tmp_path, 0)
    assert [r["seed"] for r in runs] == [0] and started == [1]  # seed 2's folder has not even its config: not begun
    rows = {"omniglot_emnist_protonet_5shot": {"runs": [run(0, 40, 0.89, 0.93, common=0.90)], "started": [1], "shipped": None}}
    assert "| seed 1 in its first epoch |" in markdown(rows)[1].splitlines()[-1]


def test_a_run_of_another_recipe_is_no_seed_of_the_row_and_stops_the_report(tmp_path, capsys):
    """A two-epoch smoke run of an edited config, left in runs/scratch/<config>/, was averaged with the real seeds
    ("63.33 ± 16.88 (3 seeds)") and, through ship_from_scratch.sh, would have been written into the README."""
    import pytest

    from benchmarks.from_scratch import report_rows, ship_check
    from hypermaml.config import load_run_config, to_dict

    config = "omniglot_emnist_protonet_1shot"
    recipe = to_dict(load_run_config(config))
    for seed, epochs in ((0, recipe["train"]["epochs"]), (1, 2)):
        run_dir = tmp_path / config / f"seed{seed}"
        run_dir.mkdir(parents=True)
        ran = json.loads(json.dumps(recipe))
        ran["train"].update(seed=seed, epochs=epochs)  # the seed is each run's own: not a difference
        (run_dir / "run_config.json").write_text(json.dumps(ran))
    for read in (lambda: report_rows(tmp_path, 0), lambda: ship_check(config, tmp_path)):
        with pytest.raises(SystemExit) as stop:
            read()
        assert str(stop.value) == (
            f"{tmp_path / config / 'seed1'} was trained with another recipe than the config {config} "
            f"(train.epochs: 2 -> {recipe['train']['epochs']}): it is no seed of that row; move it out of the runs folder"
        )
    (tmp_path / config / "seed1" / "run_config.json").unlink()  # gone: the same recipe's seed 0 alone is read
    assert report_rows(tmp_path, 0)[config]["started"] == [0]


def test_a_config_whose_only_run_is_in_its_first_epoch_gets_a_row(tmp_path):
    from benchmarks.from_scratch import report_rows

    (tmp_path / "cfg_new" / "seed0").mkdir(parents=True)  # no pretrained/cfg_new.pt: nothing shipped
    (tmp_path / "cfg_new" / "seed0" / "run_config.json").write_text(json.dumps({"train": {"epochs": 20}}))
    (tmp_path / "cfg_empty" / "seed0").mkdir(parents=True)  # a folder, not begun: no row
    rows = report_rows(tmp_path, 0)
    assert list(rows) == ["cfg_new"] and rows["cfg_new"]["runs"] == [] and rows["cfg_new"]["started"] == [0]
    line = markdown(rows)[1].splitlines()[-1]
    assert line.startswith("| cfg_new | none finished |") and "| seed 0 in its first epoch |" in line


def test_seeds_without_a_run_folder_here_keep_their_stored_reports():
    from benchmarks.from_scratch import with_stored

    stored = {
        "cfg_a": {"runs": [run(0, 40, 0.80, 0.83, common=0.79), run(1, 12, 0.70)], "started": [], "shipped": {"val": 0.8}},
        "cfg_b": {"runs": [run(0, 20, 0.85, 0.9, epochs=20, common=0.86)], "started": [], "shipped": None},
    }
    here = {  # this machine: cfg_a's seed 1 went on training (its new report wins), seed 2 just begun; no cfg_b folder
        "cfg_a": {"runs": [run(1, 40, 0.81, 0.84, common=0.80)], "started": [2], "shipped": {"val": 0.82}},
        "cfg_c": {"runs": [], "started": [0], "shipped": None},
    }
    merged = with_stored(here, stored)
    assert list(merged) == ["cfg_a", "cfg_b", "cfg_c"]
    assert [(r["seed"], r["epochs_run"]) for r in merged["cfg_a"]["runs"]] == [(0, 40), (1, 40)]
    assert merged["cfg_a"]["started"] == [2] and merged["cfg_a"]["shipped"] == {"val": 0.82}  # what is here wins
    assert merged["cfg_b"] == stored["cfg_b"] and merged["cfg_c"] == here["cfg_c"]
    (line,) = [x for x in markdown(merged)[1].splitlines() if x.startswith("| cfg_a |")]  # seed 0 from the stored
    assert "80.50 ± 0.71 (2 seeds)" in line and "seed 2 in its first epoch" in line


def test_the_pages_seed_summary_paired_and_sweep_blocks_are_what_their_stored_reports_say():
    """docs/development.md promises that every generated table on the pages is what its JSON says: the seed table
    (docs/reproduce.md) and its summary (README.md) from docs/from_scratch.json, the paired table from the shipped
    checkpoints' per-episode accuracies, the sweep from docs/sweep.json. A hand edit of a number, or a report
    stored without rewriting its block, fails here."""
    from benchmarks import from_scratch, paired, sweep
    from benchmarks.readme import DOCS, README

    reproduce = (DOCS / "reproduce.md").read_text()
    seeds_block, summary_block = from_scratch.blocks(json.loads(from_scratch.STORED.read_text()))
    assert seeds_block in reproduce
    assert summary_block in README.read_text()
    assert paired.block(paired.compare()[1]) in reproduce
    stored = json.loads((DOCS / "sweep.json").read_text())
    assert f"{sweep.START}\n{sweep.table(stored['rows'], stored)}\n{sweep.END}" in reproduce
