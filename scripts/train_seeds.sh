#!/usr/bin/env bash
# Train one shipped config from scratch once per seed, one after another, one torch thread each (so a second
# core stays free), into runs/scratch/<config>/seed<S>/ (or $RUNS/...) with a log beside each run. Resumes a run that was
# stopped. This is how the README's "mean ± std over seeds" rows were made:
#   scripts/train_seeds.sh omniglot_emnist_hypermaml_1shot 0 1 2
# Arguments after -- go to every `hypermaml train`; a --set among them changes the recipe, so it needs a RUNS folder
# of its own (runs/scratch holds the rows' seeds, and a seed of another recipe stops benchmarks.from_scratch):
#   RUNS=runs/smoke scripts/train_seeds.sh omniglot_emnist_protonet_1shot 0 -- --set train.epochs=1
# A resume must repeat them. Environment: RUNS (default runs/scratch), MAX_MINUTES (a wall-time cap per seed,
# optional), THREADS (default 1), HYPERMAML_DATA (default: ../shared/data beside the repository, where it exists,
# as for ./run_tests.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
usage="usage: $0 CONFIG SEED [SEED ...] [-- TRAIN_ARGS ...]   (e.g. $0 omniglot_emnist_hypermaml_1shot 0 1 2)"
[ $# -ge 2 ] || { echo "$usage" >&2; exit 2; }
config=$1; shift
seeds=()
while [ $# -gt 0 ] && [ "$1" != "--" ]; do
  [[ $1 =~ ^[0-9]+$ ]] || { echo "not a seed: $1"$'\n'"$usage" >&2; exit 2; }
  seeds+=("$1"); shift
done
[ ${#seeds[@]} -gt 0 ] || { echo "$usage" >&2; exit 2; }
[ $# -gt 0 ] && shift  # the --
runs=${RUNS:-runs/scratch}
if [ "$runs" = runs/scratch ] && [[ " $* " == *" --set "* ]]; then
  echo "a --set changes the recipe: give it a folder of its own, RUNS=runs/NAME $0 ... (runs/scratch holds the rows' seeds)" >&2
  exit 2
fi
if [ -z "${HYPERMAML_DATA:-}" ] && [ -d ../shared/data ]; then
  export HYPERMAML_DATA="$(cd ../shared/data && pwd)"
fi
# A config name that does not exist is named (with the shipped ones) before any folder is made.
.venv/bin/hypermaml configs --show "$config" >/dev/null
for seed in "${seeds[@]}"; do
  dir="$runs/$config/seed$seed"
  mkdir -p "$dir"
  resume=()
  [ -f "$dir/last.pt" ] && resume=(--resume)
  .venv/bin/hypermaml train --config "$config" --seed "$seed" --threads "${THREADS:-1}" --run-dir "$dir" \
    ${MAX_MINUTES:+--max-minutes "$MAX_MINUTES"} --no-progress "${resume[@]}" "$@" >>"$dir/train.log" 2>&1 ||
    { echo "seed $seed of $config failed (the seeds after it were not started): the end of $dir/train.log:" >&2
      tail -n 3 "$dir/train.log" >&2; exit 1; }
done
