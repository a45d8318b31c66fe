"""benchmarks/paper_code.py without the paper's code and without timing: its errors and its report table."""

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
    assert [g["pass"] for g in paper_code.goals(REPORT["median"])] == [v == "PASS" for v in expected.values()]


def test_the_table_needs_only_the_medians():
    text = paper_code.markdown({"median": REPORT["median"]})
    assert "| HyperMAML 1-shot training (episodes/s) | 30.0 | 20.0 | 1.50× |" in text
    assert "*" not in text.splitlines()[-1]  # no footnote without the run's facts
