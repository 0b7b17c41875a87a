#!/usr/bin/env bash
# ood_eval.sh: a nodule detector against the classical CAD baseline (cad_baseline.py) on generated
# studies of the shifted variant (`phantom --variant shifted`: settings no training set uses; see
# docs/medical.md "Out-of-distribution evaluation"). For each evaluation seed: N studies of SIZE^2
# pixels are written; `detect --candidates-out` scores the detector's candidates; `convert` and
# cad_baseline.py give the baseline's; heldout_eval.py gives for both the CPM, the FROC points and the
# sensitivity at 1 false positive per scan (95% bootstrap intervals over scans) and the sensitivity
# by nodule type and size. Then the same over all seeds pooled. The studies and the baseline's
# predictions are kept in WORK_DIR and reused, so that other models cost only their detection.
# Needs Debian's python3-scipy (the baseline).
# Usage: bench/medical/ood_eval.sh [BUILD_DIR] [MODEL] [WORK_DIR] [N] [SIZE] [SEED...]
#   (defaults: build, data/samples/medical/detector.safetensors, a temporary folder, 8, 256,
#    seeds 7101 7102 7103)
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
build=$(cd "${1:-$root/build}" && pwd)
model=$(realpath "${2:-$root/data/samples/medical/detector.safetensors}")
work=${3:-$(mktemp -d)}
n=${4:-8} size=${5:-256}
shift $(($# < 5 ? $# : 5))
seeds=("$@")
[ ${#seeds[@]} -gt 0 ] || seeds=(7101 7102 7103)
med=$build/apps/moe-medical
py=/usr/bin/python3
tag=$(basename "$model" .safetensors)
mkdir -p "$work" && cd "$work"

summary() { # summary LABEL JSON: one line of the table
    "$py" -c 'import json, sys
d = json.load(open(sys.argv[2]))
t = d["by_type_at_1"]
gg = t.get("ground-glass", {"nodules": 0, "sens_at_1": float("nan")})
print("| %s | %d | %d | %.3f [%.3f, %.3f] | %.3f [%.3f, %.3f] | %.3f (%d) | %s |" % (sys.argv[1], d["scans"], d["nodules"],
      d["cpm"], d["cpm_lo"], d["cpm_hi"], d["sens_at_1"], d["sens_at_1_lo"], d["sens_at_1_hi"], gg["sens_at_1"], gg["nodules"],
      " ".join("%.2f" % v for v in d["froc"].values())))' "$1" "$2"
}

all_nod=all_nodules.csv all_cad=all_cad.csv all_det=all_$tag.csv
for seed in "${seeds[@]}"; do
    set_dir=ood_$seed
    if [ ! -f "$set_dir/cad.csv" ]; then
        rm -rf "$set_dir"
        "$med" -q --seed "$seed" phantom --variant shifted --out "$set_dir/studies" --n "$n" --size "$size" >/dev/null
        "$med" -q convert -o "$set_dir/nii" "$set_dir/studies" >/dev/null
        "$py" "$root/bench/medical/cad_baseline.py" "$set_dir/nii" "$set_dir/cad.tmp" && mv "$set_dir/cad.tmp" "$set_dir/cad.csv"
    fi
    "$med" -q detect -m "$model" "$set_dir/studies" --candidates-out "$set_dir/$tag.csv" >/dev/null
    "$py" "$root/bench/medical/heldout_eval.py" "$set_dir/studies/nodules.csv" "$set_dir/cad.csv" "$n" >"$set_dir/cad.json"
    "$py" "$root/bench/medical/heldout_eval.py" "$set_dir/studies/nodules.csv" "$set_dir/$tag.csv" "$n" >"$set_dir/$tag.json"
done
# pooled: every seed's studies as one set (series UIDs differ between seeds)
head -1 "ood_${seeds[0]}/studies/nodules.csv" >"$all_nod"
head -1 "ood_${seeds[0]}/cad.csv" >"$all_cad"
head -1 "ood_${seeds[0]}/$tag.csv" >"$all_det"
for seed in "${seeds[@]}"; do
    tail -n +2 "ood_$seed/studies/nodules.csv" >>"$all_nod"
    tail -n +2 "ood_$seed/cad.csv" >>"$all_cad"
    tail -n +2 "ood_$seed/$tag.csv" >>"$all_det"
done
total=$((n * ${#seeds[@]}))
"$py" "$root/bench/medical/heldout_eval.py" "$all_nod" "$all_cad" "$total" >all_cad.json
"$py" "$root/bench/medical/heldout_eval.py" "$all_nod" "$all_det" "$total" >"all_$tag.json"

echo "| set, scored by | scans | nodules | CPM [95%] | sensitivity at 1 FP/scan [95%] | ground-glass at 1 FP/scan (n) | FROC at 1/8 .. 8 FP/scan |"
echo "|---|---|---|---|---|---|---|"
for seed in "${seeds[@]}"; do
    summary "seed $seed, $tag" "ood_$seed/$tag.json"
    summary "seed $seed, classical CAD" "ood_$seed/cad.json"
done
summary "all seeds, $tag" "all_$tag.json"
summary "all seeds, classical CAD" all_cad.json
echo
echo "by type and size at 1 FP/scan (all seeds):"
for f in "all_$tag.json" all_cad.json; do
    "$py" -c 'import json, sys
d = json.load(open(sys.argv[1]))
print(sys.argv[1], "type:", ", ".join("%s %.2f (%d)" % (k, v["sens_at_1"], v["nodules"]) for k, v in d["by_type_at_1"].items()),
      "| size:", ", ".join("%s %.2f (%d)" % (k, v["sens_at_1"], v["nodules"]) for k, v in d["by_size_at_1"].items()))' "$f"
done
