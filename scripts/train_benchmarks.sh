#!/usr/bin/env bash
# Meta-train every Omniglot->EMNIST and Vinyals-Omniglot run in parallel, one process per run, each
# stopped between epochs before MINUTES of wall time (its log says how many epochs ran).
#
#   scripts/train_benchmarks.sh OUT_DIR [cpu|cuda] [MINUTES]
#
# This is the command that trained the committed checkpoints (README, "Omniglot -> EMNIST"). A run that
# stopped after N epochs is reproduced alone by its line below with --set train.epochs=N and without
# --max-minutes. EXTRA (environment) is appended to every run, e.g. for a smoke test:
#   EXTRA="--set train.episodes_per_epoch=8 --set train.val_episodes=4" scripts/train_benchmarks.sh /tmp/t cpu 0.2
set -u
out=${1:?usage: scripts/train_benchmarks.sh OUT_DIR [cpu|cuda] [MINUTES]}
device=${2:-cpu}
minutes=${3:-60}
python=${PYTHON:-python3}
cd "$(dirname "$0")/.."
mkdir -p "$out"

# Training-time augmentation (hypermaml/augment.py): zoom, small rotation and shift, thicker strokes.
AUG="--set train.augment.scale=[1.0,1.4] --set train.augment.rotate=10 --set train.augment.translate=0.05"
AUG1="$AUG --set train.augment.thicken=[0,1]"
AUG2="$AUG --set train.augment.thicken=[0,2]"

run() {  # run NAME CONFIG [ARGS...]
    local name=$1 config=hypermaml/configs/$2.json
    shift 2
    mkdir -p "$out/$name"
    # shellcheck disable=SC2086
    $python -m hypermaml.train --config "$config" --run-dir "$out/$name" --device "$device" --threads 1 \
        --no-progress --max-minutes "$minutes" --set train.epochs=1000 "$@" ${EXTRA:-} >"$out/$name/log.txt" 2>&1 &
}

# Omniglot -> EMNIST (validation: EMNIST even classes; the test classes are never looked at here)
run hypermaml_1shot            omniglot_emnist_hypermaml_1shot
run hypermaml_1shot_aug1       omniglot_emnist_hypermaml_1shot $AUG1
run hypermaml_1shot_aug2       omniglot_emnist_hypermaml_1shot $AUG2
run hypermaml_5shot            omniglot_emnist_hypermaml_5shot
run hypermaml_5shot_aug1       omniglot_emnist_hypermaml_5shot $AUG1
run hypermaml_5shot_aug1_mean  omniglot_emnist_hypermaml_5shot $AUG1 --set model.hypermaml.aggregation=mean
run maml_1shot                 omniglot_emnist_maml_1shot
run maml_1shot_aug1            omniglot_emnist_maml_1shot $AUG1
run maml_5shot                 omniglot_emnist_maml_5shot
run maml_5shot_aug1            omniglot_emnist_maml_5shot $AUG1
run protonet_1shot_aug1        omniglot_emnist_protonet_1shot $AUG1
run protonet_5shot_aug1        omniglot_emnist_protonet_5shot $AUG1
# Within Omniglot, Vinyals split (the sanity row), at most 20 epochs
run vinyals_hypermaml_1shot    omniglot_vinyals_hypermaml_1shot --set train.epochs=20
run vinyals_maml_1shot         omniglot_vinyals_maml_1shot --set train.epochs=20
run vinyals_protonet_1shot     omniglot_vinyals_protonet_1shot --set train.epochs=20
wait
for d in "$out"/*/; do echo "$(basename "$d"): $(tail -n 1 "$d/log.txt")"; done
