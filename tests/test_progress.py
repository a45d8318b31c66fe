"""Progress reads well in a log file: plain lines, never a carriage-return bar."""

import io

from hypermaml.progress import LineProgress, is_terminal, progress


def test_a_log_file_gets_whole_lines_at_the_interval_and_at_the_end():
    stream = io.StringIO()
    bar = LineProgress(range(5), 5, "evaluate", interval=0.0, stream=stream)
    seen = []
    for i in bar:
        bar.set_postfix(acc=f"{i / 10:.1f}")
        seen.append(i)
    lines = stream.getvalue().splitlines()
    assert seen == [0, 1, 2, 3, 4]
    assert "\r" not in stream.getvalue()
    assert lines[0] == "evaluate: 1/5 (20%) in 0 s, acc=0.0"
    assert lines[-1] == "evaluate: 5/5 (100%) in 0 s, acc=0.4"
    assert len(lines) == 5  # four interval lines (not after the last item) and the closing one


def test_a_short_loop_in_a_log_says_nothing_and_a_pipe_is_not_a_terminal():
    stream = io.StringIO()
    assert list(LineProgress(range(3), 3, "epoch 1/2", interval=60.0, stream=stream)) == [0, 1, 2]
    assert stream.getvalue() == ""
    assert not is_terminal(stream)


def test_under_pytest_progress_is_lines_not_a_bar(capfd):
    assert list(progress(range(4), 4, "x")) == [0, 1, 2, 3]  # stderr is captured: not a terminal
    assert "\r" not in capfd.readouterr().err
    assert list(progress(range(2), 2, "x", enabled=False)) == [0, 1]
