#!/usr/bin/env bash
# Set up .venv if needed, then serve the studio on the bundled models (http://localhost:8501).
# Environment: PORT (default 8501), HOST (default localhost), HYPERMAML_DATA (optional real data).
set -euo pipefail
cd "$(dirname "$0")"
./scripts/ensure_venv.sh
if [ -z "${HYPERMAML_DATA:-}" ] && [ -d ../shared/data ]; then
  export HYPERMAML_DATA="$(cd ../shared/data && pwd)"
fi
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
# One torch thread per computation, fixed for the whole server before it starts: many visitors' small tensors
# share the cores between visitors, not between halves of one small convolution (and a thread's CPU time stays
# an honest timer). HYPERMAML_STUDIO_THREADS changes it.
export OMP_NUM_THREADS="${HYPERMAML_STUDIO_THREADS:-1}"
exec .venv/bin/python -m streamlit run app/studio.py \
  --server.port "${PORT:-8501}" --server.address "${HOST:-localhost}" \
  --server.headless true --browser.gatherUsageStats false --server.maxUploadSize 64 "$@"
