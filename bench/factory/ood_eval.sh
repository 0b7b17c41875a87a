#!/usr/bin/env bash
# ood_eval.sh: moe-factory inspection on surfaces made differently from its own generator
# (ood_textures.py: ripple, sandblast, mesh, leather, perforated, fibre), beside the classical
# good-only baseline (patchcore_baseline.py), over several data seeds and training seeds. Per family
# and data seed: the good-only model from the 120 training good images, the baseline from the same
# images, and (unless SUPERVISED=0) the supervised model from the training good and defect images
# with their masks, each scored on 80 good and 30 defect test images at its own calibrated threshold.
# One JSON line per model and data set goes to WORK/results.jsonl; the table at the end gives, per
# family and method, the mean and standard deviation over the runs of AUROC, accuracy and the false
# alarms at the threshold.
# Usage: bench/factory/ood_eval.sh [BUILD_DIR] [WORK_DIR] [DATA_SEEDS] [TRAIN_SEEDS] [FAMILIES]
#   defaults: build, a temporary folder, "11 12 13", "1", all six families;
#   METHODS="baseline anomaly supervised" (the default) chooses what runs, SUP_EPOCHS=N the
#   supervised models' epochs (default 40). Results add to WORK/results.jsonl.
# Needs Debian's python3-numpy, python3-scipy and python3-pil.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
build=$(cd "${1:-$root/build}" && pwd)
work=${2:-$(mktemp -d)}
data_seeds=${3:-11 12 13}
train_seeds=${4:-1}
families=${5:-ripple sandblast mesh leather perforated fibre}
methods=${METHODS:-baseline anomaly supervised}
fab=$build/apps/moe-factory
py=/usr/bin/python3
mkdir -p "$work" && cd "$work"
out=results.jsonl
echo "CPU: $(lscpu | sed -n 's/^Model name: *//p'), $(nproc) cores; results in $work/$out" >&2
for ds in $data_seeds; do
    [ -d data$ds ] || "$py" "$root/bench/factory/ood_textures.py" data$ds --seed "$ds" --families "${families// /,}" --jobs 2
    for fam in $families; do
        d=data$ds/$fam
        if [[ " $methods " == *" baseline "* ]]; then
            base=$("$py" "$root/bench/factory/patchcore_baseline.py" --train-good $d/train/good --test-good $d/test/good \
                --test-defect $d/test/defect --json)
            echo "{\"family\": \"$fam\", \"data_seed\": $ds, \"method\": \"baseline\", \"result\": $base}" >>$out
        fi
        for ts in $train_seeds; do
          if [[ " $methods " == *" anomaly "* ]]; then
            m=anomaly-$fam-$ds-$ts.safetensors
            "$fab" --db e.db -q --seed "$ts" train --good $d/train/good --mode anomaly -o $m >/dev/null
            r=$("$fab" --db e.db --json eval -m $m --good $d/test/good --defect $d/test/defect --masks $d/test/masks)
            echo "{\"family\": \"$fam\", \"data_seed\": $ds, \"train_seed\": $ts, \"method\": \"anomaly\", \"result\": $r}" >>$out
          fi
          if [[ " $methods " == *" supervised "* ]]; then
            m=supervised-$fam-$ds-$ts.safetensors
            "$fab" --db e.db -q --seed "$ts" train --good $d/train/good --defect $d/train/defect --masks $d/train/masks \
                --mode supervised --epochs "${SUP_EPOCHS:-40}" -o $m >/dev/null
            r=$("$fab" --db e.db --json eval -m $m --good $d/test/good --defect $d/test/defect --masks $d/test/masks)
            echo "{\"family\": \"$fam\", \"data_seed\": $ds, \"train_seed\": $ts, \"method\": \"supervised\", \"result\": $r}" >>$out
          fi
        done
        echo "done: $fam, data seed $ds" >&2
    done
done
"$py" - "$out" <<'PY'
import json, sys, statistics as st
rows = [json.loads(l) for l in open(sys.argv[1])]
def get(r, k):
    v = r["result"]
    return {"auroc": v.get("auroc", v.get("image_auroc")), "accuracy": v["accuracy"],
            "fpr": v["fpr"] if "fpr" in v else v["fp"] / v["n_good"]}[k]
fams = list(dict.fromkeys(r["family"] for r in rows))
print(f"{'family':12s} {'method':11s} {'runs':>4s} {'AUROC mean':>10s} {'sd':>6s} {'accuracy':>8s} {'false alarms':>12s}")
for f in fams:
    for m in ("baseline", "anomaly", "supervised"):
        rs = [r for r in rows if r["family"] == f and r["method"] == m]
        if not rs: continue
        a = [get(r, "auroc") for r in rs]
        sd = st.stdev(a) if len(a) > 1 else float("nan")
        print(f"{f:12s} {m:11s} {len(rs):4d} {st.mean(a):10.3f} {sd:6.3f} {st.mean(get(r, 'accuracy') for r in rs):8.3f} "
              f"{st.mean(get(r, 'fpr') for r in rs):12.3f}")
PY
