#!/usr/bin/env bash
# Shared set-up for ./run_app.sh and ./run_tests.sh: creates .venv from requirements.txt on first run,
# and reinstalls whenever requirements.txt changes (a hash of it is kept in .venv).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
python=${PYTHON:-python3}
if ! command -v "$python" >/dev/null 2>&1; then
  echo "error: $python not found; install Python 3.11 (or set PYTHON=/path/to/python3.11)" >&2
  exit 1
fi
if [ ! -x .venv/bin/python ]; then
  echo "Creating .venv with $("$python" --version 2>&1) ..." >&2
  "$python" -m venv .venv
fi
want=$(sha256sum requirements.txt | cut -d' ' -f1)
if [ "$(cat .venv/.requirements.sha256 2>/dev/null)" != "$want" ]; then
  echo "Installing requirements.txt into .venv (first run: a few minutes) ..." >&2
  .venv/bin/python -m pip install --disable-pip-version-check -q -r requirements.txt
  echo "$want" > .venv/.requirements.sha256
fi
if [ ! -x .venv/bin/hypermaml ]; then
  # the library itself, editable (this checkout's code), for the `hypermaml` command; offline: no build isolation
  .venv/bin/python -m pip install --disable-pip-version-check -q --no-deps --no-build-isolation -e .
fi
