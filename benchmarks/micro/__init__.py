"""Single-kernel and single-setting measurements: the numbers behind one choice inside the library each.

Each answers one question (its module docstring's first line), stores its report in ``docs/<name>.json``, and is
run by hand when that part of the library changes (``.venv/bin/python -m benchmarks.micro.<name>``); the
conclusions are in the documentation's Speed page. Nothing in the test suite times them.
"""
