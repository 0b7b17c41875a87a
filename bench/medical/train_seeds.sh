#!/usr/bin/env bash
# train_seeds.sh: the sample detector's recipe trained from several seeds, each scored on the
# out-of-distribution studies of ood_eval.sh beside the classical CAD: what docs/medical.md reports
# "over training seeds". For each pair DATA_SEED:TRAIN_SEED: 60 studies of `phantom --variant
# varied` (256 x 256, 60 slices) drawn with the data seed, `train` with the train seed (10 epochs, 6
# copies of each nodule, 40 hard negatives a series in a second round), the fusion on the sample
# model's 200 fusion studies (seed 303), then ood_eval.sh on the evaluation seeds 7101-7103 (8 studies
# of 256 x 256 each), whose studies and CAD predictions are made once in WORK_DIR/ood and reused.
# The first pair, 202:7, is the sample model's own recipe (data/samples/medical/README.md).
# Usage: bench/medical/train_seeds.sh [BUILD_DIR] [WORK_DIR] [DATA_SEED:TRAIN_SEED...]
#   (defaults: build, a temporary folder, 202:7 212:17 222:27)
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
build=$(cd "${1:-$root/build}" && pwd)
work=${2:-$(mktemp -d)}
shift $(($# < 2 ? $# : 2))
pairs=("$@")
[ ${#pairs[@]} -gt 0 ] || pairs=(202:7 212:17 222:27)
med=$build/apps/moe-medical
mkdir -p "$work" && cd "$work"
[ -f fusion/truth.csv ] || "$med" -q --seed 303 phantom --out fusion --n 200 --slices 12 >/dev/null
for pair in "${pairs[@]}"; do
    ds=${pair%%:*} ts=${pair##*:} dir=$work/train_$ds
    mkdir -p "$dir"
    if [ ! -f "$dir/detector_$ds.safetensors" ]; then
        rm -rf "$dir/data"
        start=$(date +%s)
        "$med" -q --seed "$ds" phantom --variant varied --out "$dir/data" --n 60 --size 256 --slices 60 >/dev/null
        "$med" --seed "$ts" --threads 2 --db "$dir/train.db" train --data "$dir/data" \
            --annotations "$dir/data/nodules.csv" --nodules fusion/nodules.csv --clinical fusion/clinical.csv \
            --truth fusion/truth.csv --epochs 10 --pos-copies 6 --hard-negatives 40 \
            -o "$dir/detector_$ds.safetensors" >"$dir/train.out" 2>"$dir/train.log" ||
            [ -f "$dir/detector_$ds.safetensors" ] # status 3: a study was rejected, the model made without it
        echo "data seed $ds, train seed $ts: generated and trained in $(($(date +%s) - start)) s"
    fi
    "$root/bench/medical/ood_eval.sh" "$build" "$dir/detector_$ds.safetensors" "$work/ood" 8 256 7101 7102 7103 |
        tee "$dir/ood.txt"
done
