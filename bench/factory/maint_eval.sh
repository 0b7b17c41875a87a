#!/usr/bin/env bash
# maint_eval.sh: `moe-factory maintain` judged on fleets it never trained on, beside the one-sensor
# threshold baseline calibrated with it. Per seed S and generator: a training fleet (seed 1000 + S,
# MACHINES machines) and a test fleet (seed 2000 + S, 200 machines); `maintain train --seed S` with
# the default alarm goal (precision:0.85 at the 72 h horizon, or ALARM_GOAL) on the first,
# `maintain eval` on the second. Generators: `ood` (bench/factory/maint_ood.py: other physics, no
# shared code) and `synth` (`maintain synth`, the training generator's own distribution: a sanity
# check). One JSON line per run goes to WORK/results.jsonl; the table gives, per run, precision,
# recall and lead-time quartiles at the horizon for the model and the baseline, then the mean and
# standard deviation over the seeds.
# Usage: bench/factory/maint_eval.sh [BUILD_DIR] [WORK_DIR] [SEEDS] [GENERATORS]
#   defaults: build, a temporary folder, "1 2 3", "ood synth"; MACHINES (default 120); TRAIN_OPTS
#   adds options to `maintain train` (e.g. "--conditions 4").
# Needs Debian's python3-numpy.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
build=$(cd "${1:-$root/build}" && pwd)
work=${2:-$(mktemp -d)}
seeds=${3:-1 2 3}
generators=${4:-ood synth}
machines=${MACHINES:-120}
goal=${ALARM_GOAL:-precision:0.85}
fab=$build/apps/moe-factory
py=/usr/bin/python3
mkdir -p "$work" && cd "$work"
out=results.jsonl
: >$out
echo "CPU: $(lscpu | sed -n 's/^Model name: *//p'), $(nproc) cores; results in $work/$out" >&2
fleet() { # generator seed machines dir
    if [ "$1" = ood ]; then
        "$py" "$root/bench/factory/maint_ood.py" --out "$4" --machines "$3" --seed "$2" >/dev/null
    else
        "$fab" maintain synth --out "$4" --machines "$3" --seed "$2" >/dev/null
    fi
}
for gen in $generators; do
    for s in $seeds; do
        tr=$gen-train-$s te=$gen-test-$s model=$gen-$s.safetensors
        fleet "$gen" $((1000 + s)) "$machines" "$tr"
        fleet "$gen" $((2000 + s)) 200 "$te"
        "$fab" --db bench.db --json maintain train --sensors "$tr/sensors.csv" --failures "$tr/failures.csv" \
            -o "$model" --seed "$s" --alarm-goal "$goal" ${TRAIN_OPTS:-} >"train-$gen-$s.json"
        "$fab" --db bench.db --json maintain eval --sensors "$te/sensors.csv" --failures "$te/failures.csv" \
            --model "$model" >"eval-$gen-$s.json"
        "$py" -c 'import json, sys
t, e = json.load(open(sys.argv[1])), json.load(open(sys.argv[2]))
print(json.dumps({"generator": sys.argv[3], "seed": int(sys.argv[4]), "train": t, "eval": e}))' \
            "train-$gen-$s.json" "eval-$gen-$s.json" "$gen" "$s" >>$out
    done
done
"$py" - "$out" <<'EOF'
import json, sys
import numpy as np
runs = [json.loads(l) for l in open(sys.argv[1])]
def cell(r, k):
    m = r["eval"][k]
    lead = m["lead_h"]
    q = lambda v: "-" if v is None else f"{v:.0f}"
    return (f"{m['precision']:.3f} ({m['false_alarms']} false) | {m['recall']:.3f} ({m['detected']} of "
            f"{m['detected'] + m['missed']}) | {q(lead['q1'])} / {q(lead['median'])} / {q(lead['q3'])}")
print("| fleet | seed | threshold (held-out precision, recall) | model precision | model recall | model lead q1 / median / q3 (h) "
      "| baseline rule | baseline precision | baseline recall | baseline lead q1 / median / q3 (h) |")
print("|---|---|---|---|---|---|---|---|---|---|")
for r in runs:
    t = r["train"]
    met = "" if t["goal_met"] else ", goal NOT met"
    print(f"| {r['generator']} | {r['seed']} | {t['threshold']:.3f} ({t['val_precision']:.2f}, {t['val_recall']:.2f}{met}) "
          f"| {cell(r, 'moe')} | `{r['eval']['one_sensor']['rule']['feature']} {r['eval']['one_sensor']['rule']['direction']} "
          f"{r['eval']['one_sensor']['rule']['threshold']:.3g}` | {cell(r, 'one_sensor')} |")
print()
print("| fleet | method | precision | recall | median lead (h) | runs with precision >= 0.85, recall >= 0.80, median lead >= 72 h |")
print("|---|---|---|---|---|---|")
for gen in dict.fromkeys(r["generator"] for r in runs):
    for k in ("moe", "one_sensor"):
        ms = [r["eval"][k] for r in runs if r["generator"] == gen]
        p = np.array([m["precision"] for m in ms]); rc = np.array([m["recall"] for m in ms])
        ld = np.array([np.nan if m["lead_h"]["median"] is None else m["lead_h"]["median"] for m in ms])
        ok = sum(1 for a, b, c in zip(p, rc, ld) if a >= 0.85 and b >= 0.80 and c >= 72)
        print(f"| {gen} | {k} | {p.mean():.3f} ± {p.std():.3f} | {rc.mean():.3f} ± {rc.std():.3f} "
              f"| {np.nanmean(ld):.0f} ± {np.nanstd(ld):.0f} | {ok} of {len(ms)} |")
EOF
