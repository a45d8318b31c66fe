#!/usr/bin/env bash
# The GPU table (issue 13's, issue 26 item 5) in one command on a GPU machine, about 8 minutes in all (an estimate):
#   1. episodes/s of each method at meta-batch 1, 16, 64 and 256, one vmap call against the loop
#      (benchmarks.vectorise --device cuda --save: docs/vectorise_cuda.json and its table on docs/scale.md);
#   2. HyperMAML 1-shot from random weights to 79% EMNIST validation on that GPU, for MINUTES (default 3) of training
#      (benchmarks.time_to_accuracy --device cuda --save: docs/time_to_accuracy_cuda.json and .png);
# then copies what they stored into $OUT (default runs/gpu). On this project's device tool:
#   here, once:  echo /.gpudata/ >> .git/info/exclude; mkdir -p .gpudata && cp -r "$HYPERMAML_DATA"/. .gpudata/
#   device run:  command "PY=python3 HYPERMAML_DATA=.gpudata scripts/gpu_table.sh", carry [".gpudata"], timeout 600
#   back here:   copy the files into docs/, then .venv/bin/python -m benchmarks.vectorise --from-json docs/vectorise_cuda.json
# Environment: PY (default .venv/bin/python; the device's python3 holds a CUDA torch), DEVICE (default cuda), MINUTES,
# OUT, QUICK=1 (a dry run of every step in a minute, on any device: tiny budgets; tests/test_gpu_script.py runs it).
set -euo pipefail
cd "$(dirname "$0")/.."
py=${PY:-.venv/bin/python}
device=${DEVICE:-cuda}
out=${OUT:-runs/gpu}
mkdir -p "$out"
export HYPERMAML_CACHE=${HYPERMAML_CACHE:-$out/cache} PYTHONUNBUFFERED=1
suffix=$([ "$device" = cpu ] || echo "_$device")
vectorise=(--meta-batch 1 16 64 256)
tta=(--minutes "${MINUTES:-3}")
if [ "${QUICK:-0}" = 1 ]; then
  if [ -e .git ]; then
    echo "QUICK=1 writes toy numbers over docs/: run it in a copy of the tree (tests/test_gpu_script.py does)" >&2
    exit 2
  fi
  vectorise=(--meta-batch 1 2 --rounds 1 --seconds 0.05)
  tta=(--minutes 0.05 --test-episodes 5 --calibrate-episodes 2 --set train.episodes_per_epoch=4 --set train.val_episodes=4)
fi
$py -c "import torch; print('torch', torch.__version__, '| cuda:', torch.cuda.is_available() and torch.cuda.get_device_name())"
$py -m benchmarks.vectorise --device "$device" "${vectorise[@]}" --save 2>&1 | tee "$out/vectorise.log"
$py -m benchmarks.time_to_accuracy --device "$device" --baseline none --runs-dir "$out/tta" "${tta[@]}" --save 2>&1 |
  tee "$out/time_to_accuracy.log"
cp "docs/vectorise$suffix.json" "docs/time_to_accuracy$suffix.json" "docs/time_to_accuracy$suffix.png" "$out/"
echo "stored in $out: vectorise$suffix.json time_to_accuracy$suffix.json time_to_accuracy$suffix.png and the two logs"
