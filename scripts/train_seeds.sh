#!/usr/bin/env bash
# Train one shipped config from scratch once per seed, one after another, one torch thread each (so a second
# core stays free), into runs/scratch/<config>/seed<S>/ with a log beside each run. Resumes a run that was
# stopped. This is how the README's "mean ± std over seeds" rows were made:
#   scripts/train_seeds.sh omniglot_emnist_hypermaml_1shot 0 1 2
# Environment: MAX_MINUTES (a wall-time cap per seed, optional), THREADS (default 1).
set -euo pipefail
cd "$(dirname "$0")/.."
config=$1; shift
for seed in "$@"; do
  dir="runs/scratch/$config/seed$seed"
  mkdir -p "$dir"
  resume=()
  [ -f "$dir/last.pt" ] && resume=(--resume)
  .venv/bin/hypermaml train --config "$config" --seed "$seed" --threads "${THREADS:-1}" --run-dir "$dir" \
    ${MAX_MINUTES:+--max-minutes "$MAX_MINUTES"} --no-progress "${resume[@]}" >>"$dir/train.log" 2>&1 ||
    { echo "seed $seed of $config failed (the seeds after it were not started): see $dir/train.log" >&2; exit 1; }
done
