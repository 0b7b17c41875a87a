#!/usr/bin/env bash
# medical_eval_test.sh: `moe-medical eval` end to end: its sensitivities and CPM against a numpy
# re-implementation of the LUNA16 evaluation script on a random case (irrelevant findings, scans
# without nodules, a scan list), the bootstrap interval and its seed, the database row and its
# idempotence, the FROC plot, and bad inputs (exit 3, file and line named, nothing stored).
# Usage: medical_eval_test.sh SOURCE_DIR MOE_MEDICAL SCRATCH_DIR PYTHON
set -u
src=$1 med=$2 scratch=$3 python=$4
rm -rf "$scratch" && mkdir -p "$scratch" && cd "$scratch" || exit 1
# under LeakSanitizer: fontconfig (loaded by cairo for the plot's text) keeps its caches to the end
printf 'leak:libfontconfig\n' >"$scratch/lsan.supp"
export LSAN_OPTIONS="suppressions=$scratch/lsan.supp${LSAN_OPTIONS:+:$LSAN_OPTIONS}"
passed=0 failed=0
check() { if eval "$2"; then passed=$((passed + 1)); else failed=$((failed + 1)); echo "FAIL: $1" >&2; fi; }
sql() { "$python" -c 'import sqlite3,sys; c=sqlite3.connect(sys.argv[1]); print("\n".join("|".join(map(str,r)) for r in c.execute(sys.argv[2])))' "$@"; }

# ---- a random case and the reference --------------------------------------------------------------
"$python" - <<'PY' || exit 1
import numpy as np
rng = np.random.default_rng(5)
scans = ["1.3.6.1.4.%d" % i for i in range(40)]
ann, exc, pred = [], [], []
for s in scans[:30]:                       # 10 scans have no nodules
    for _ in range(rng.integers(0, 4)):
        c = rng.uniform(-150, 150, 3); d = rng.uniform(3, 30)
        ann.append((s, *c, d))
        for _ in range(rng.integers(0, 4)): # marks near the nodule, most inside its radius, scored higher
            pred.append((s, *(c + rng.normal(0, d / 5, 3)), round(rng.uniform(0.3, 1), 2)))
    for _ in range(rng.integers(0, 2)):
        c = rng.uniform(-150, 150, 3); d = rng.choice([-1.0, rng.uniform(3, 10)])
        exc.append((s, *c, d))
        pred.append((s, *(c + rng.normal(0, 2, 3)), round(rng.uniform(0, 1), 2)))
for s in scans:
    for _ in range(rng.integers(0, 12)):
        pred.append((s, *rng.uniform(-150, 150, 3), round(rng.uniform(0, 0.8), 2)))
pred.append(("9.9.9", 0, 0, 0, 0.5))       # a scan outside the list
def write(name, rows, last):
    with open(name, "w") as f:
        f.write("seriesuid,coordX,coordY,coordZ,%s\n" % last)
        for r in rows: f.write("%s,%.6f,%.6f,%.6f,%.6f\n" % r)
write("annotations.csv", ann, "diameter_mm"); write("excluded.csv", exc, "diameter_mm")
write("predictions.csv", pred, "probability")
with open("scans.txt", "w") as f: f.write("\n".join(scans) + "\n")

# LUNA16's noduleCADEvaluation, step by step: included nodules first, then irrelevant findings
def read(name):
    rows = [l.strip().split(",") for l in open(name).read().splitlines()[1:]]
    return [(r[0], float(r[1]), float(r[2]), float(r[3]), float(r[4])) for r in rows]
A, X, P = read("annotations.csv"), read("excluded.csv"), read("predictions.csv")
gt, prob, excl = [], [], []
for s in scans:
    cands = {i: p for i, p in enumerate(P) if p[0] == s}
    cands2 = dict(cands)
    nods = [(a, "Included") for a in A if a[0] == s] + [(x, "Excluded") for x in X if x[0] == s]
    for a, state in nods:
        d = a[4] if a[4] >= 0 else 10.0
        r2 = (d / 2) ** 2
        found, matches = False, []
        for i, c in cands.items():
            if (a[1]-c[1])**2 + (a[2]-c[2])**2 + (a[3]-c[3])**2 < r2:
                if state == "Included":
                    found = True; matches.append(c); cands2.pop(i, None)
                elif i in cands2:
                    del cands2[i]
        if state == "Included":
            gt.append(1.0); prob.append(max(c[4] for c in matches) if found else -1.0); excl.append(not found)
    for c in cands2.values():
        gt.append(0.0); prob.append(c[4]); excl.append(False)
gt, prob, excl = np.array(gt), np.array(prob), np.array(excl)
g, p = gt[~excl], prob[~excl]
order = np.argsort(-p, kind="mergesort"); g, p = g[order], p[order]
last = np.r_[np.where(np.diff(p))[0], len(p) - 1]   # last index of each distinct score
tps, fps = np.r_[0, np.cumsum(g)[last]], np.r_[0, np.cumsum(1 - g)[last]]
fpr = fps / len(scans); sens = tps / gt.sum()
rates = [0.125, 0.25, 0.5, 1, 2, 4, 8]
s = np.interp(rates, fpr, sens)
open("reference.txt", "w").write(" ".join("%.12f" % v for v in list(s) + [s.mean()]) + "\n")
PY
check "reference written" "[ -s reference.txt ]"

"$med" --db e.db --json eval -a annotations.csv -p predictions.csv --excluded excluded.csv --scans scans.txt \
    --bootstrap 0 >out.json 2>err
rc=$?; check "random case: exit 0 ($(head -c 300 err))" "[ $rc = 0 ]"
"$python" - <<'PY'
import json
j = json.loads(open("out.json").read())
ref = [float(v) for v in open("reference.txt").read().split()]
got = [p["sensitivity"] for p in j["sensitivity"]] + [j["cpm"]]
bad = [(g, r) for g, r in zip(got, ref) if abs(g - r) > 1e-9]
open("cmp.txt", "w").write("ok\n" if not bad and j["scans"] == 40 and j["marks_left_out"] == 1 else "diff %s %s\n" % (got, ref))
PY
check "sensitivities and CPM equal the numpy LUNA16 reference ($(cat cmp.txt))" "[ \"\$(cat cmp.txt)\" = ok ]"
check "the scan outside the list is reported" "grep -q '1 marks on scans not in scans.txt left out' err"

# ---- bootstrap: interval around the estimate, reproducible with its seed ---------------------------
"$med" --db e.db --json eval -a annotations.csv -p predictions.csv --excluded excluded.csv --scans scans.txt \
    --bootstrap 300 --plot froc.png >b1.json 2>err
check "bootstrap: exit 0" "[ $? = 0 ]"
"$med" --db e.db --json eval -a annotations.csv -p predictions.csv --excluded excluded.csv --scans scans.txt \
    --bootstrap 300 >b2.json 2>err
"$med" --db e.db --json --seed 7 eval -a annotations.csv -p predictions.csv --excluded excluded.csv --scans scans.txt \
    --bootstrap 300 >b3.json 2>err
"$python" - <<'PY'
import json
b1, b2, b3 = (json.loads(open(f).read()) for f in ("b1.json", "b2.json", "b3.json"))
ok = b1["cpm_lo"] <= b1["cpm"] <= b1["cpm_hi"] and b1["cpm_hi"] - b1["cpm_lo"] > 0.01
ok = ok and all(p["lo"] <= p["sensitivity"] <= p["hi"] for p in b1["sensitivity"])
ok = ok and (b1["cpm_lo"], b1["cpm_hi"]) == (b2["cpm_lo"], b2["cpm_hi"]) and b1["eval_key"] == b2["eval_key"]
ok = ok and (b1["cpm_lo"], b1["cpm_hi"]) != (b3["cpm_lo"], b3["cpm_hi"]) and b1["eval_key"] != b3["eval_key"]
open("boot.txt", "w").write("ok\n" if ok else "bad %s\n" % b1)
PY
check "bootstrap interval contains the CPM, same seed same interval, other seed other ($(head -c 200 boot.txt))" "[ \"\$(cat boot.txt)\" = ok ]"
check "FROC plot is a PNG" "head -c 8 froc.png | od -c | grep -q 'P   N   G'"

# ---- the database: one row per distinct evaluation, re-runs update it ---------------------------------
check "three distinct evaluations stored" "[ \"\$(sql e.db 'select count(*) from med_froc_evals')\" = 3 ]"
check "stored CPM equals the printed one" "[ \"\$(sql e.db \"select printf('%.9f', cpm) from med_froc_evals where bootstrap = 0\")\" = \"\$(cut -d' ' -f8 reference.txt | xargs printf '%.9f')\" ]"
check "row points to a run of eval" "[ \"\$(sql e.db \"select count(*) from med_froc_evals e join runs r using(run_id) where r.command = 'eval'\")\" = 3 ]"

# ---- the sample studies: a perfect detector, and one that misses by a radius ---------------------------
samples=$src/data/samples/medical
if [ -f "$samples/annotations.csv" ]; then
    awk -F, 'NR == 1 {print "seriesuid,coordX,coordY,coordZ,probability"; next} {print $1","$2","$3","$4",0.9"}' \
        "$samples/annotations.csv" >perfect.csv
    "$med" --db e.db --json eval -a "$samples/annotations.csv" -p perfect.csv --scans "$samples/clinical.csv" \
        --bootstrap 0 >perfect.json 2>err
    rc=$?; check "samples, perfect detector: exit 0 ($(head -c 200 err))" "[ $rc = 0 ]"
    check "samples, perfect detector: CPM 1, every scan of the clinical table counted" \
        "grep -q '\"cpm\":1.0' perfect.json && grep -q \"\\\"scans\\\":\$(tail -n +2 $samples/clinical.csv | wc -l),\" perfect.json"
    for shift in -0.01 0.01; do
        awk -F, -v d="$shift" 'NR == 1 {print "seriesuid,coordX,coordY,coordZ,probability"; next}
            {printf "%s,%.4f,%s,%s,0.9\n", $1, $2 + $5 / 2 + d, $3, $4}' "$samples/annotations.csv" >edge$shift.csv
        "$med" --db e.db --json eval -a "$samples/annotations.csv" -p edge$shift.csv --bootstrap 0 >edge$shift.json 2>err
    done
    check "samples, marks 0.01 mm inside each nodule's radius: all detected" \
        "grep -q '\"cpm\":1.0' edge-0.01.json && grep -q '\"false_positives\":0' edge-0.01.json"
    check "samples, marks 0.01 mm outside each nodule's radius: none detected, all false positives" \
        "grep -q '\"cpm\":0.0' edge0.01.json && grep -q '\"detected\":0' edge0.01.json"
fi

# ---- bad inputs ---------------------------------------------------------------------------------------------
stored=$(sql e.db 'select count(*) from med_froc_evals')
printf 'seriesuid,coordX,coordY,coordZ,probability\nA,1,2,3,0.5\nA,1,2,oops,0.5\n' >bad.csv
"$med" --db e.db eval -a annotations.csv -p bad.csv >out 2>err
check "malformed predictions: exit 3" "[ $? = 3 ]"
check "malformed predictions: file and line named" "grep -q 'rejected: bad.csv: line 3: coordZ .oops. is not a finite number' err"
printf 'seriesuid,coordX,coordY,coordZ\nA,1,2,3\n' >noddiam.csv
"$med" --db e.db eval -a noddiam.csv -p predictions.csv >out 2>err
check "annotations without diameters: exit 3" "[ $? = 3 ]"
check "annotations without diameters: named" "grep -q \"rejected: predictions.csv: noddiam.csv: line 1: header has no 'diameter_mm' column\" err"
"$med" --db e.db eval -a missing.csv -p predictions.csv >out 2>err
check "missing file: exit 3 and named" "[ $? = 3 ] && grep -q 'missing.csv: cannot open' err"
head -c 2000 /dev/urandom >binary.csv
"$med" --db e.db eval -a annotations.csv -p binary.csv >out 2>err
check "binary predictions: exit 3" "[ $? = 3 ] && grep -q 'rejected: binary.csv' err"
printf 'seriesuid,coordX,coordY,coordZ,diameter_mm\n' >nonodules.csv
"$med" --db e.db eval -a nonodules.csv -p predictions.csv >out 2>err
check "no nodules: exit 3, sensitivity undefined" "[ $? = 3 ] && grep -q 'sensitivity is undefined' err"
check "rejections recorded in input_errors" "[ \"\$(sql e.db 'select count(*) from input_errors')\" = 5 ]"
check "nothing stored for rejected inputs" "[ \"\$(sql e.db 'select count(*) from med_froc_evals')\" = $stored ]"
"$med" --db e.db eval -p predictions.csv >out 2>err
check "missing --annotations: usage error" "[ $? = 2 ]"
"$med" --db e.db eval -a annotations.csv -p predictions.csv --bootstrap -3 >out 2>err
check "negative --bootstrap: usage error" "[ $? = 2 ]"

echo "medical_eval_test: $passed passed, $failed failed"
[ "$failed" = 0 ]
