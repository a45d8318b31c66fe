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
linked=0
for dir in runs/scratch/"$config"/seed*; do
  seed=${dir##*seed}
  if $py -c 'import json, sys; d = sys.argv[1]; want = json.load(open(d + "/run_config.json"))["train"]["epochs"]
sys.exit(sum(1 for _ in open(d + "/metrics.jsonl")) < want)' "$dir"; then
    ln -sfn "../scratch/$config/seed$seed" "runs/ship/${row}_scratch_s$seed"
    linked=$((linked + 1))
  else
    echo "seed $seed has not run all its epochs: left out" >&2
    rm -f "runs/ship/${row}_scratch_s$seed"
  fi
done
[ "$linked" -gt 0 ] || { echo "error: no finished seed of $config in runs/scratch/$config" >&2; exit 1; }
# The rule: a from-scratch checkpoint replaces the shipped one only where its validation reaches the shipped one's.
$py - "$config" "$row" <<'PY' || { [ "${FORCE:-0}" = 1 ] || exit 1; }
import json, pathlib, sys
config, row = sys.argv[1:]
best = max(max(json.loads(l)["val_mean"] for l in open(d / "metrics.jsonl")) for d in pathlib.Path("runs/ship").glob(f"{row}_scratch_s*"))
shipped = pathlib.Path(f"pretrained/{config}.json")
current = json.loads(shipped.read_text())["val_mean"] if shipped.is_file() else None
if current is not None and best < current:
    sys.exit(f"not shipped: the best finished seed's validation {100 * best:.2f}% is below the shipped {100 * current:.2f}% (FORCE=1 ships it anyway)")
PY
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
