#!/usr/bin/env bash
# Move every Omniglot->EMNIST and Vinyals checkpoint to a batch-independent normalisation: each run starts
# from the committed transductive model of its row (the bundled transductive/<row>, trained by the shipped
# config transductive/<row>) and meta-trains on with batch_norm = metabn or tasknorm-i.
#
#   scripts/train_batch_independent.sh OUT_DIR [cpu|cuda] [MINUTES] [compare|final]
#
# "compare" (default) runs both normalisations for every Omniglot->EMNIST row; "final" runs the normalisation
# chosen per method on validation from a compare run (HyperMAML metabn, MAML metabn, ProtoNet tasknorm-i;
# README, "Batch-independent normalisation") for every row, the Vinyals rows included.
#
# All runs start at once, one process each. Afterwards
#   python -m benchmarks.omniglot_emnist --from-runs OUT_DIR --write
# picks, for every row, the run with the best EMNIST-validation accuracy (the test classes are never looked
# at) and evaluates it on the test classes. HyperMAML rows run seeds 0, 1, 2 of each normalisation; the
# seed changes the episode stream of this stage. EXTRA (environment) is appended to every run.
set -u
out=${1:?usage: scripts/train_batch_independent.sh OUT_DIR [cpu|cuda] [MINUTES]}
device=${2:-cpu}
limit=${3:+--max-minutes $3}
python=${PYTHON:-python3}
cd "$(dirname "$0")/.."
mkdir -p "$out"

run() {  # run NAME ROW NORM SEED [ARGS...]
    local name=$1 row=$2 norm=$3 seed=$4
    shift 4
    mkdir -p "$out/$name"
    # shellcheck disable=SC2086
    $python -m hypermaml train --config "transductive/$row" --run-dir "$out/$name" \
        --device "$device" --threads 1 --no-progress --seed "$seed" $limit \
        --set model.backbone.batch_norm="$norm" --set train.init_from="transductive/$row" \
        --set train.epochs=40 --set train.lr=0.0005 "$@" ${EXTRA:-} >"$out/$name/log.txt" 2>&1 &
}

if [ "${4:-compare}" = final ]; then
    for shot in 1 5; do
        for seed in 0 1 2; do
            run "hypermaml_${shot}shot_metabn_s$seed" "omniglot_emnist_hypermaml_${shot}shot" metabn "$seed"
        done
        run "maml_${shot}shot_metabn" "omniglot_emnist_maml_${shot}shot" metabn 0
        run "protonet_${shot}shot_tasknorm-i" "omniglot_emnist_protonet_${shot}shot" tasknorm-i 0
    done
    run vinyals_hypermaml_1shot_metabn omniglot_vinyals_hypermaml_1shot metabn 0
    run vinyals_maml_1shot_metabn omniglot_vinyals_maml_1shot metabn 0
    run vinyals_protonet_1shot_tasknorm-i omniglot_vinyals_protonet_1shot tasknorm-i 0
    wait
    for d in "$out"/*/; do echo "$(basename "$d"): $(tail -n 1 "$d/log.txt")"; done
    exit 0
fi

for shot in 1 5; do
    for norm in metabn tasknorm-i; do
        for seed in 0 1 2; do
            run "hypermaml_${shot}shot_${norm}_s$seed" "omniglot_emnist_hypermaml_${shot}shot" "$norm" "$seed"
        done
        run "maml_${shot}shot_${norm}" "omniglot_emnist_maml_${shot}shot" "$norm" 0
        run "protonet_${shot}shot_${norm}" "omniglot_emnist_protonet_${shot}shot" "$norm" 0
    done
done
for method in hypermaml maml protonet; do
    run "vinyals_${method}_1shot_metabn" "omniglot_vinyals_${method}_1shot" metabn 0
done
wait
for d in "$out"/*/; do echo "$(basename "$d"): $(tail -n 1 "$d/log.txt")"; done
