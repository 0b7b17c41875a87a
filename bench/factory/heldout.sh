#!/usr/bin/env bash
# heldout.sh: the accuracy figures of docs/benchmarks.md (moe-factory inspection) on generated data:
# the supervised model trained on texture classes 1-4 and evaluated on classes 5 and 6, which it never
# saw; the good-only model of each of classes 5 and 6 trained on 20 of its good images and evaluated
# on 20 others and its 20 defects; and inspect's time per 512 x 512 PNG.
# Usage: bench/factory/heldout.sh [BUILD_DIR] [WORK_DIR]   (defaults: build, a temporary folder)
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
build=$(cd "${1:-$root/build}" && pwd)
work=${2:-$(mktemp -d)}
fab=$build/apps/moe-factory
mkdir -p "$work" && cd "$work"
rm -rf d a05 a06 big e.db
"$fab" --db e.db -q synth -o d --classes 6 --good 40 --defect 20 --size 128 --seed 2027
for c in 05 06; do  # good images 0-19 to train the anomaly models, 20-39 to evaluate
    mkdir -p a$c/train a$c/test
    for i in $(seq -f %04g 0 19); do cp d/class$c/good/$i.png a$c/train/; done
    for i in $(seq -f %04g 20 39); do cp d/class$c/good/$i.png a$c/test/; done
done
args=()
for c in 01 02 03 04; do args+=(--good d/class$c/good --defect d/class$c/defect --masks d/class$c/masks); done
"$fab" --db e.db --seed 42 -q train "${args[@]}" --mode supervised -o sup.safetensors
echo "supervised, unseen classes 5 and 6 together, then each:"
"$fab" --db e.db --json eval -m sup.safetensors --good a05/test --good a06/test --defect d/class05/defect \
    --masks d/class05/masks --defect d/class06/defect --masks d/class06/masks --roc roc_supervised.png
for c in 05 06; do
    "$fab" --db e.db --json eval -m sup.safetensors --good a$c/test --defect d/class$c/defect --masks d/class$c/masks
done
echo "anomaly, one model per class:"
for c in 05 06; do
    "$fab" --db e.db --seed 42 -q train --good a$c/train --mode anomaly -o anomaly$c.safetensors
    "$fab" --db e.db --json eval -m anomaly$c.safetensors --good a$c/test --defect d/class$c/defect \
        --masks d/class$c/masks --roc roc_anomaly$c.png
done
echo "inspect, 32 PNGs of 512 x 512 with the supervised model (128 x 128 input):"
"$fab" --db e.db -q synth -o big --classes 1 --good 32 --defect 0 --size 512 --seed 3
"$fab" --db e.db --json inspect -m sup.safetensors big/class01/good >big.json
/usr/bin/python3 -c "
import json; ms = sorted(json.loads(l)['ms'] for l in open('big.json'))
print(json.dumps({'images': len(ms), 'median_ms': ms[len(ms) // 2], 'mean_ms': sum(ms) / len(ms)}))"
