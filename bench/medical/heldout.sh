#!/usr/bin/env bash
# heldout.sh: the accuracy figures of docs/medical.md for a nodule detector, on generated chest CT
# studies never used in training: detect writes every candidate, `moe-medical eval` gives the CPM and
# its bootstrap interval, heldout_eval.py the sensitivity at 0.3 false positives per scan with its
# interval and, for each nodule some candidate hits, the network's diameter and type against the
# phantom's nodules.csv beside the blob diameter and the density rule; the candidate filter alone
# (its own response as the score) is evaluated beside it.
# Usage: bench/medical/heldout.sh [BUILD_DIR] [MODEL] [SEED] [STUDIES] [WORK_DIR]
#   (defaults: build, data/samples/medical/detector.safetensors, 9001, 10, a temporary folder)
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
build=$(cd "${1:-$root/build}" && pwd)
model=$(realpath "${2:-$root/data/samples/medical/detector.safetensors}")
seed=${3:-9001} n=${4:-10}
work=${5:-$(mktemp -d)}
med=$build/apps/moe-medical
mkdir -p "$work" && cd "$work"
rm -rf held cand.csv base.csv e.db
"$med" -q --seed "$seed" phantom --out held --n "$n" --slices 60 >/dev/null
"$med" -q detect -m "$model" held --candidates-out cand.csv >/dev/null
/usr/bin/python3 -c 'import csv
r = list(csv.DictReader(open("cand.csv")))
w = csv.writer(open("base.csv", "w")); w.writerow(["seriesuid", "coordX", "coordY", "coordZ", "probability"])
[w.writerow([x["seriesuid"], x["coordX"], x["coordY"], x["coordZ"], x["response"]]) for x in r]'
echo "the CNN (eval):"
"$med" --db e.db --json eval -a held/annotations.csv -p cand.csv --bootstrap 1000
echo "the candidate filter alone (eval):"
"$med" --db e.db --json eval -a held/annotations.csv -p base.csv --bootstrap 1000
echo "the CNN (heldout_eval.py):"
/usr/bin/python3 "$root/bench/medical/heldout_eval.py" held/nodules.csv cand.csv "$n"
