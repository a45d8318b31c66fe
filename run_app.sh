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
# New tasks and episodes are adapted and drawn in worker processes, one per core (app/compute.py): in one
# Python process that work would take turns on a single core. HYPERMAML_STUDIO_WORKERS=0 computes in-process.
# (nproc would obey OMP_NUM_THREADS, hence env -u.)
export HYPERMAML_STUDIO_WORKERS="${HYPERMAML_STUDIO_WORKERS:-$(env -u OMP_NUM_THREADS -u OMP_THREAD_LIMIT nproc 2>/dev/null || echo 2)}"
# One torch thread per computation, fixed for the whole server before it starts: many visitors' small tensors
# share the cores between visitors, not between halves of one small convolution (and a thread's CPU time stays
# an honest timer). HYPERMAML_STUDIO_THREADS changes it.
export OMP_NUM_THREADS="${HYPERMAML_STUDIO_THREADS:-1}"
# --runner.postScriptGC false: Streamlit otherwise runs a full garbage collection after every script run, which
# with torch, matplotlib and plotly loaded holds the interpreter lock for about a quarter of a second per click,
# stalling every other visitor's page (Python's own generational collector still runs as usual).
# --server.fileWatcherType none: no reloading when a source file changes (a served studio does not change);
# the watcher walked every loaded module after every run of every visitor, on the thread that talks to all
# browsers: two thirds of the server's own work under load. Developers: add --server.fileWatcherType auto.
exec .venv/bin/python -m streamlit run app/studio.py \
  --server.port "${PORT:-8501}" --server.address "${HOST:-localhost}" \
  --server.headless true --browser.gatherUsageStats false --server.maxUploadSize 64 \
  --runner.postScriptGC false --server.fileWatcherType none "$@"
