#!/usr/bin/env bash
# Set up .venv if needed, then run the whole test suite. Extra arguments go to pytest (e.g. -k toy).
set -euo pipefail
cd "$(dirname "$0")"
./scripts/ensure_venv.sh
if [ -z "${HYPERMAML_DATA:-}" ] && [ -d ../shared/data ]; then
  export HYPERMAML_DATA="$(cd ../shared/data && pwd)"
fi
exec .venv/bin/python -m pytest "$@"
