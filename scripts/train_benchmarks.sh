#!/usr/bin/env bash
# Meta-train every Omniglot->EMNIST and Vinyals-Omniglot run in parallel, one process per run.
#
#   scripts/train_benchmarks.sh OUT_DIR [cpu|cuda] [MINUTES]
#
# The first line of each group trains a row's shipped config by name (`hypermaml configs`: the top-level
# configs train from scratch with a batch-independent normalisation). The other lines are variants to choose
# between on validation. Afterwards,
#   python -m benchmarks.omniglot_emnist --from-runs OUT_DIR --write
# imports, for every row, the run with the best validation accuracy and evaluates it on the test classes.
# MINUTES (optional) stops each run between epochs before that much wall time (its log says how many
# epochs ran). EXTRA (environment) is appended to every run, e.g. for a smoke test:
#   EXTRA="--set train.episodes_per_epoch=8 --set train.val_episodes=4" scripts/train_benchmarks.sh /tmp/t cpu 0.2
set -u
out=${1:?usage: scripts/train_benchmarks.sh OUT_DIR [cpu|cuda] [MINUTES]}
device=${2:-cpu}
limit=${3:+--max-minutes $3}
python=${PYTHON:-python3}
cd "$(dirname "$0")/.."
mkdir -p "$out"

NOAUG="--set train.augment.scale=[1.0,1.0] --set train.augment.rotate=0 --set train.augment.translate=0 --set train.augment.thicken=[0,0]"

run() {  # run NAME CONFIG [ARGS...]
    local name=$1 config=$2
    shift 2
    mkdir -p "$out/$name"
    # shellcheck disable=SC2086
    $python -m hypermaml train --config "$config" --run-dir "$out/$name" --device "$device" --threads 1 \
        --no-progress $limit "$@" ${EXTRA:-} >"$out/$name/log.txt" 2>&1 &
}

# Omniglot -> EMNIST (validation: EMNIST even classes; the test classes are never looked at here)
run hypermaml_1shot            omniglot_emnist_hypermaml_1shot
run hypermaml_1shot_thicken1   omniglot_emnist_hypermaml_1shot --set train.augment.thicken=[0,1]
run hypermaml_1shot_noaug      omniglot_emnist_hypermaml_1shot $NOAUG
run hypermaml_5shot            omniglot_emnist_hypermaml_5shot
run hypermaml_5shot_mean       omniglot_emnist_hypermaml_5shot --set model.hypermaml.aggregation=mean
run hypermaml_5shot_noaug      omniglot_emnist_hypermaml_5shot $NOAUG
run maml_1shot                 omniglot_emnist_maml_1shot
run maml_1shot_noaug           omniglot_emnist_maml_1shot $NOAUG
run maml_5shot                 omniglot_emnist_maml_5shot
run maml_5shot_noaug           omniglot_emnist_maml_5shot $NOAUG
run protonet_1shot             omniglot_emnist_protonet_1shot
run protonet_5shot             omniglot_emnist_protonet_5shot
# Within Omniglot, Vinyals split (the sanity row)
run vinyals_hypermaml_1shot    omniglot_vinyals_hypermaml_1shot
run vinyals_maml_1shot         omniglot_vinyals_maml_1shot
run vinyals_protonet_1shot     omniglot_vinyals_protonet_1shot
wait
for d in "$out"/*/; do echo "$(basename "$d"): $(tail -n 1 "$d/log.txt")"; done
