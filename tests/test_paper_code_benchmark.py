"""benchmarks/paper_code.py without the paper's code and without timing: its errors and its report table."""

import argparse
import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks import paper_code

ROOT = Path(__file__).resolve().parents[1]


def fail(capsys, argv: list[str]) -> str:
    with pytest.raises(SystemExit) as exit_info:
        paper_code.main(argv)
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: ")  # one line
    return err


def test_a_missing_paper_path_is_a_one_line_error(capsys):
    err = fail(capsys, ["--quick"])
    assert "--paper PATH is required" in err and paper_code.PAPER_REPO in err


def test_a_path_that_does_not_exist_is_a_one_line_error(capsys, tmp_path):
    err = fail(capsys, ["--paper", str(tmp_path / "nowhere")])
    assert "no such directory" in err


def test_a_folder_that_is_not_the_papers_code_is_a_one_line_error(capsys, tmp_path):
    (tmp_path / "backbone.py").write_text("")
    err = fail(capsys, ["--paper", str(tmp_path), "--rounds", "1"])
    assert "not a copy of" in err and "methods/hypernets/hypermaml.py" in err


def test_a_folder_with_the_papers_files_is_accepted(tmp_path):
    for name in paper_code.PAPER_FILES:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("")
    assert paper_code.paper_problem(str(tmp_path)) is None


def test_the_command_line_exits_with_status_2_and_one_line():
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks.paper_code", "--paper", "/nonexistent/few-shot-hypernets-public"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2
    assert proc.stdout == ""
    assert proc.stderr.strip().count("\n") == 0 and "no such directory" in proc.stderr


REPORT = {
    "rounds": 5,
    "threads": 2,
    "torch": "2.x",
    "paper_backbone": "Conv4S",
    "median": {
        "ours": {
            "train_hypermaml_1shot": 30.0,
            "train_hypermaml_5shot": 24.0,
            "train_maml2_1shot": 12.0,
            "train_maml2_5shot": 9.0,
            "adapt_hypermaml_1shot": 2.0,
            "adapt_hypermaml_5shot": 4.0,
            "adapt_score_hypermaml_1shot": 10.0,
            "adapt_score_hypermaml_5shot": 12.0,
            "conv4_1shot": 32.0,
            "conv4_5shot": 30.0,
        },
        "paper": {
            "train_hypermaml_1shot": 20.0,  # ours 1.5x: pass (>= 1.4)
            "train_hypermaml_5shot": 20.0,  # 1.2x: miss
            "train_maml2_1shot": 10.0,  # 1.2x: pass (>= 1.2)
            "train_maml2_5shot": 10.0,  # 0.9x: miss
            "adapt_hypermaml_1shot": 5.0,  # 2.5x: pass (>= 2)
            "adapt_hypermaml_5shot": 6.0,  # 1.5x: miss
            "adapt_score_hypermaml_1shot": 40.0,
            "adapt_score_hypermaml_5shot": 48.0,
        },
    },
}


def test_the_table_has_every_row_with_its_numbers_and_speed_ratio():
    text = paper_code.markdown(REPORT)
    lines = text.splitlines()
    assert lines[0] == "| one episode per optimiser step | ours | paper's code | ours / paper |"
    assert "| HyperMAML 1-shot training (episodes/s) | 30.0 | 20.0 | 1.50× |" in lines
    assert "| HyperMAML 5-shot training (episodes/s) | 24.0 | 20.0 | 1.20× |" in lines
    assert "| MAML, second order, 1 inner step, 1-shot training (episodes/s) | 12.0 | 10.0 | 1.20× |" in lines
    assert "| MAML, second order, 1 inner step, 5-shot training (episodes/s) | 9.00 | 10.0 | 0.90× |" in lines
    # times: the ratio is the paper's time over ours, so > 1 still means ours is faster
    assert "| HyperMAML 1-shot adaptation of one task (ms) | 2.00 | 5.00 | 2.50× |" in lines
    assert "| HyperMAML 5-shot adaptation of one task (ms) | 4.00 | 6.00 | 1.50× |" in lines
    assert "| HyperMAML 1-shot adaptation + scoring 75 queries (ms) | 10.0 | 40.0 | 4.00× |" in lines
    assert "| our bare Conv4 forward + backward, 1-shot episode (episodes/s) | 32.0 | — | — |" in lines
    assert "| our HyperMAML 1-shot training / our bare Conv4 | 0.94× | — | — |" in lines
    assert "| our HyperMAML 5-shot training / our bare Conv4 | 0.80× | — | — |" in lines
    assert "2 torch thread(s)" in text and "5 rounds, medians" in text


def test_the_goal_lines_say_pass_or_miss():
    lines = paper_code.markdown(REPORT).splitlines()
    goal_lines = [line[2:] for line in lines if line.startswith(("- PASS", "- MISS"))]  # a Markdown list
    assert len(goal_lines) == len(paper_code.GOALS) == 8
    expected = {
        "HyperMAML 1-shot training, ours / paper = 1.50× (goal ≥ 1.4×)": "PASS",
        "HyperMAML 5-shot training, ours / paper = 1.20× (goal ≥ 1.4×)": "MISS",
        "second-order MAML 1-shot training, ours / paper = 1.20× (goal ≥ 1.2×)": "PASS",
        "second-order MAML 5-shot training, ours / paper = 0.90× (goal ≥ 1.2×)": "MISS",
        "HyperMAML 1-shot adaptation, paper's time / ours = 2.50× (goal ≥ 2.0×)": "PASS",
        "HyperMAML 5-shot adaptation, paper's time / ours = 1.50× (goal ≥ 2.0×)": "MISS",
        "our HyperMAML 1-shot training / our bare Conv4 = 0.94× (goal ≥ 0.9×)": "PASS",
        "our HyperMAML 5-shot training / our bare Conv4 = 0.80× (goal ≥ 0.9×)": "MISS",
    }
    assert {line[6:]: line[:4] for line in goal_lines} == expected
    assert [g["pass"] for g in paper_code.goals(paper_code.ratios(REPORT["median"]))] == [v == "PASS" for v in expected.values()]


def test_the_table_needs_only_the_medians():
    text = paper_code.markdown({"median": REPORT["median"]})
    assert "| HyperMAML 1-shot training (episodes/s) | 30.0 | 20.0 | 1.50× |" in text
    assert "*" not in text.splitlines()[-1]  # no footnote without the run's facts


def test_the_ratio_of_a_row_is_the_median_of_its_rounds_ratios_not_the_ratio_of_medians():
    # the machine slows down in round 2 (both sides), then ours is slow alone in round 3
    rounds = {
        "ours": [
            {"train_hypermaml_1shot": 10.0, "adapt_hypermaml_1shot": 2.0},
            {"train_hypermaml_1shot": 20.0, "adapt_hypermaml_1shot": 4.0},
            {"train_hypermaml_1shot": 40.0, "adapt_hypermaml_1shot": 12.0},
        ],
        "paper": [
            {"train_hypermaml_1shot": 5.0, "adapt_hypermaml_1shot": 5.0},
            {"train_hypermaml_1shot": 25.0, "adapt_hypermaml_1shot": 10.0},
            {"train_hypermaml_1shot": 20.0, "adapt_hypermaml_1shot": 12.0},
        ],
    }
    paired = paper_code.paired_ratios(rounds)
    assert paired == {"train_hypermaml_1shot": 2.0, "adapt_hypermaml_1shot": 2.5}  # rounds: 2, 0.8, 2 and 2.5, 2.5, 1
    median = {side: {k: sorted(r[k] for r in rounds[side])[1] for k in rounds[side][0]} for side in rounds}
    assert paper_code.ratios(median)["train_hypermaml_1shot"] == 1.0  # 20 / 20: what the medians alone would say
    text = paper_code.markdown({"median": median, "ratios": paired, "paired": True})
    assert "| HyperMAML 1-shot training (episodes/s) | 20.0 | 20.0 | 2.00× |" in text
    assert "- PASS  HyperMAML 1-shot training, ours / paper = 2.00× (goal ≥ 1.4×)" in text
    assert "taken back to back" in text


def test_each_round_measures_every_row_each_pair_back_to_back():
    for shot in paper_code.SHOTS:
        steps = paper_code.schedule(shot)
        keys = [key for key, _ in steps]
        assert {key for key, _, _ in paper_code.ROWS if key.endswith(f"_{shot}shot")} <= set(keys)
        both = {key for key, sides in steps if sides == ("ours", "paper")}
        assert both == {
            f"train_hypermaml_{shot}shot",
            f"train_maml2_{shot}shot",
            f"adapt_hypermaml_{shot}shot",
            f"adapt_score_hypermaml_{shot}shot",
        }
        # ours alone: right after the pair it is compared with
        assert keys.index(f"conv4_{shot}shot") == keys.index(f"train_hypermaml_{shot}shot") + 1
        assert keys.index(f"train_maml2_bn_{shot}shot") == keys.index(f"train_maml2_{shot}shot") + 1


def test_our_worker_answers_each_measurement_asked_for_and_only_that(tmp_path):
    for name in paper_code.PAPER_FILES:  # our side never imports their files; the driver only checks they exist
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("")
    args = argparse.Namespace(paper=str(tmp_path), threads=1, episodes=2, repeats=2, warmup=1, paper_backbone="Conv4S")
    worker = paper_code._Worker("ours", args)
    try:
        assert worker.facts["side"] == "ours" and worker.facts["threads"] == 1
        assert set(worker.facts["keys"]) >= {key for key, _, _ in paper_code.ROWS}
        for key in ("adapt_hypermaml_1shot", "adapt_hypermaml_1shot", "train_maml2_bn_1shot"):
            value = worker.measure(key)
            assert isinstance(value, float) and value > 0
    finally:
        worker.close()
    assert worker.proc.returncode == 0
