#!/usr/bin/env bash
# Ship an Omniglot->EMNIST row trained from scratch by scripts/train_seeds.sh: link its finished seeds into
# runs/ship/, import the one best on the common EMNIST-validation episodes into pretrained/ (tested under both
# protocols, the other seeds scored for "across seeds"), rewrite the README's and docs' tables from the stored
# numbers, and set the config's train.seed to the shipped seed (so `hypermaml train --config CONFIG` is the one
# command for that checkpoint).
#   scripts/ship_from_scratch.sh omniglot_emnist_protonet_1shot
# Seeds that have not run all their epochs are left out (a run still training is not a seed yet). Seeds and the
# shipped checkpoint are compared on the same 1,000 validation episodes (benchmarks/from_scratch.py says why), and
# nothing is shipped when the best seed is below the shipped checkpoint on them (FORCE=1 ships it anyway).
# Safe to run again after a failure (each step rewrites its output whole); until it ends, pretrained/ and the tables
# may disagree. Environment: HARDWARE, what the runs ran on (stored with the checkpoint; default: this project's 2-core CPU);
# the torch threads each epoch recorded are added to it.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ $# -ne 1 ] || [[ $1 != omniglot_emnist_* ]]; then
  echo "usage: $0 omniglot_emnist_<method>_<shots>shot   (a config trained by scripts/train_seeds.sh)" >&2
  exit 2
fi
config=$1
row=${config#omniglot_emnist_}
if [ -z "${HYPERMAML_DATA:-}" ] && [ -d ../shared/data ]; then  # as ./run_tests.sh does
  export HYPERMAML_DATA="$(cd ../shared/data && pwd)"
fi
py=.venv/bin/python
mkdir -p runs/ship
# The finished seeds, the best of them on common validation, and the rule: it replaces the shipped checkpoint only
# where it reaches it there.
status=0
out=$($py -m benchmarks.from_scratch --ship-check "$config" --selection-out "runs/ship/$row.selection.json") || status=$?
if [ "$status" -eq 3 ] && [ "${FORCE:-0}" = 1 ]; then status=0; fi
[ "$status" -eq 0 ] || exit "$status"
seeds=$(sed -n 1p <<<"$out")
best=$(sed -n 2p <<<"$out")
rm -f runs/ship/"${row}"_scratch_s*
for seed in $seeds; do
  ln -sfn "../scratch/$config/seed$seed" "runs/ship/${row}_scratch_s$seed"
done
hardware=${HARDWARE:-"2-core x86_64 CPU (this project's CI-size machine), beside other training runs"}
$py -m benchmarks.omniglot_emnist --from-runs runs/ship --only "$row" --write --hardware "$hardware" \
  --choose "${row}_scratch_s$best" --selection "runs/ship/$row.selection.json"
$py -m benchmarks.omniglot_emnist --readme
$py -m benchmarks.paired --readme
$py -m benchmarks.from_scratch --save --readme
$py - "$config" <<'PY'
import json, sys
config = sys.argv[1]
seed = json.load(open(f"pretrained/{config}.json"))["run_config"]["train"]["seed"]
path = f"hypermaml/configs/{config}.json"
data = json.load(open(path))
if data["train"]["seed"] != seed:
    data["train"]["seed"] = seed
    open(path, "w").write(json.dumps(data, indent=2) + "\n")
print(f"shipped seed {seed}; {path} train.seed = {seed}")
PY
