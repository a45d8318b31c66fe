#!/usr/bin/env bash
# Ship an Omniglot->EMNIST row trained from scratch by scripts/train_seeds.sh: link its finished seeds into
# runs/ship/, import the best on EMNIST validation into pretrained/ (tested under both protocols, the other seeds
# scored for "across seeds"), rewrite the README's and docs' tables from the stored numbers, and set the config's
# train.seed to the shipped seed (so `hypermaml train --config CONFIG` is the one command for that checkpoint).
#   scripts/ship_from_scratch.sh omniglot_emnist_protonet_1shot
# Seeds that have not run all their epochs are left out (a run still training is not a seed yet), and nothing is
# shipped when the best finished seed's validation is below the shipped checkpoint's (FORCE=1 ships it anyway).
# Environment: HARDWARE, what the runs ran on (stored with the checkpoint; default: this project's 2-core CPU, one
# thread each).
set -euo pipefail
cd "$(dirname "$0")/.."
config=$1
row=${config#omniglot_emnist_}
py=.venv/bin/python
mkdir -p runs/ship
# The finished seeds, and the rule: they replace the shipped checkpoint only where their best validation reaches its.
status=0
seeds=$($py -m benchmarks.from_scratch --ship-check "$config") || status=$?
if [ "$status" -eq 3 ] && [ "${FORCE:-0}" = 1 ]; then status=0; fi
[ "$status" -eq 0 ] || exit "$status"
rm -f runs/ship/"${row}"_scratch_s*
for seed in $seeds; do
  ln -sfn "../scratch/$config/seed$seed" "runs/ship/${row}_scratch_s$seed"
done
hardware=${HARDWARE:-"2-core x86_64 CPU (this project's CI-size machine), 1 torch thread, beside other training runs"}
$py -m benchmarks.omniglot_emnist --from-runs runs/ship --only "$row" --write --hardware "$hardware"
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
