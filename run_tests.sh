#!/usr/bin/env bash
# Set up .venv if needed, then run the whole test suite. Extra arguments go to pytest (e.g. -k toy).
set -euo pipefail
cd "$(dirname "$0")"
./scripts/ensure_venv.sh
if [ -z "${HYPERMAML_DATA:-}" ] && [ -d ../shared/data ]; then
  export HYPERMAML_DATA="$(cd ../shared/data && pwd)"
fi
# Lint and format first (ruff, configured in pyproject.toml): seconds, and a clear message before the suite.
.venv/bin/ruff check .
.venv/bin/ruff format --check .
# The documentation site (mkdocs.yml), strict: a broken link, a missing page or a missing API object fails here. Built
# into a temporary folder, never into the repository; offline (no fonts or plugins fetched).
site=$(mktemp -d)
NO_MKDOCS_2_WARNING=1 .venv/bin/mkdocs build --strict --quiet --site-dir "$site"
rm -rf "$site"
exec .venv/bin/python -m pytest "$@"
