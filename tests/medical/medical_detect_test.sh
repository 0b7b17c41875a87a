#!/usr/bin/env bash
# medical_detect_test.sh: `moe-medical train` and `detect` end to end on generated chest CT studies.
#   train   a short training run on annotations with types: the model file (two input channels, five
#           outputs), its provenance metadata and validation figures, its fusion layer; a bad type
#           named by file and line
#   detect  the sample detector on held-out studies (seeds never used in training): CNN ranking of
#           nodules above other candidates and its CPM by `moe-medical eval` (both bounded below; the
#           candidate filter alone is measured beside them), the network's diameter and type of each
#           nodule a candidate hits against the phantom's nodules.csv, world positions, Lung-RADS and
#           Brock of each finding against a Python re-implementation, database rows and idempotence,
#           images
#   bad     unreadable files, non-CT series, a corrupt model: named, rejected, batch goes on
# Usage: medical_detect_test.sh MODE SOURCE_DIR MOE_MEDICAL SCRATCH_DIR PYTHON
set -u
mode=$1 src=$2 med=$3 scratch=$4 python=$5
rm -rf "$scratch" && mkdir -p "$scratch" && cd "$scratch" || exit 1
printf 'leak:libfontconfig\n' >"$scratch/lsan.supp"
export LSAN_OPTIONS="suppressions=$scratch/lsan.supp${LSAN_OPTIONS:+:$LSAN_OPTIONS}"
passed=0 failed=0
check() { if eval "$2"; then passed=$((passed + 1)); else failed=$((failed + 1)); echo "FAIL: $1" >&2; fi; }
sql() { "$python" -c 'import sqlite3,sys; c=sqlite3.connect(sys.argv[1]); print("\n".join("|".join(map(str,r)) for r in c.execute(sys.argv[2])))' "$@"; }
model=$src/data/samples/medical/detector.safetensors

case $mode in
train)
    "$med" -q --seed 31 phantom --out tr --n 2 --slices 40 >/dev/null || exit 1
    "$med" -q --seed 32 phantom --out fus --n 40 --slices 12 >/dev/null || exit 1
    "$med" --db t.db --seed 5 --json train --data tr --annotations tr/nodules.csv -o m.safetensors --epochs 1 \
        --pos-copies 2 --max-neg 20 --val-fraction 0.5 --hard-negatives 5 --nodules fus/nodules.csv \
        --clinical fus/clinical.csv --truth fus/truth.csv >out 2>err
    rc=$?
    check "train: exit 0 ($(tail -c 300 err))" "[ $rc = 0 ]"
    check "train: hard negatives scored by the first model for each series, then a second round" \
        "[ \$(grep -c ': 5 hard negatives, scored ' err) = 2 ] && grep -q 'training again with 20 hard negative patches' err"
    check "train: the log numbers epochs from 1" "grep -q 'epoch 1: training loss' err && ! grep -q 'epoch 0' err"
    "$python" - m.safetensors fus out tr/nodules.csv >meta.txt 2>&1 <<'PY'
import json, struct, sys
raw = open(sys.argv[1], "rb").read()
n = struct.unpack("<Q", raw[:8])[0]
header = json.loads(raw[8:8 + n])
meta = header["__metadata__"]
d = json.loads(meta["med.detector"]); f = json.loads(meta["med.fusion"])
printed = json.loads(open(sys.argv[3]).read())
assert d["seed"] == 5 and d["epochs"] == 1 and d["epochs_run"] == 1 and d["series"] == 2 and d["val_series"] == 1, d
assert d["train_pos"] > 0 and d["patch"] == 24, d
# 20 drawn negatives per series, and 5 hard ones in 2 copies each
assert d["hard_negatives"] == 5 and d["train_neg"] == 30 and d["val_neg"] == 30, d
assert printed["series"] == 2 and printed["epochs_run"] == 1, printed
# epochs count from 1 everywhere, as the log's "epoch 1: ..." line: the one epoch run is the best
assert d["best_epoch"] == 1 and printed["best_epoch"] == 1, (d["best_epoch"], printed["best_epoch"])
# two input channels (1 mm, 2 mm), five outputs (logit, log-diameter, three types); every nodule typed
assert d["channels"] == 2 and d["heads"] == 5, d
assert header["0.conv.weight"]["shape"][1] == 2 and json.loads(meta["moesuite.arch"])["layers"][-1]["out"] == 5
assert d["typed_nodules"] == sum(1 for _ in open(sys.argv[4])) - 1, d
assert 0 <= printed["val_type_accuracy"] <= 1 and 0 < printed["val_diameter_mae_mm"] < 30, printed
assert printed["val_type_accuracy"] == d["val_type_accuracy"], (printed, d)
# the fusion's studies: those with nodules and a truth label
import csv
nod = {r["seriesuid"] for r in csv.DictReader(open(sys.argv[2] + "/nodules.csv"))}
tru = {r["seriesuid"]: int(r["malignant"]) for r in csv.DictReader(open(sys.argv[2] + "/truth.csv"))}
assert f["n_fit"] == len(nod), (f["n_fit"], len(nod))
assert f["n_positive"] == sum(tru[s] for s in nod), f
assert len(f["w"]) == 11 and f["features"][1] == "diameter", f
print("ok")
PY
    check "model metadata: provenance and fusion ($(head -c 300 meta.txt))" "[ \"\$(tail -1 meta.txt)\" = ok ]"
    check "train recorded as a run with 2 inputs" "[ \"\$(sql t.db \"select n_ok from runs where command = 'train'\")\" = 2 ]"
    "$med" --db t.db train --data tr --annotations tr/annotations.csv -o m2.safetensors --nodules fus/nodules.csv >out 2>err
    rc=$?
    check "fusion without --clinical/--truth: usage error" "[ $rc = 2 ]"
    sed '3s/,solid,\|,part-solid,\|,ground-glass,/,round,/' tr/nodules.csv >badtype.csv
    "$med" --db t.db train --data tr --annotations badtype.csv -o m3.safetensors >out 2>err
    rc=$?
    check "unknown nodule type: exit 1, file and line named ($(tail -c 200 err))" \
        "[ $rc = 1 ] && grep -q \"badtype.csv: line 3: type 'round'\" err && [ ! -e m3.safetensors ]"
    ;;
detect)
    "$med" -q --seed 9101 phantom --out held --n 2 --slices 60 >/dev/null || exit 1
    "$med" --db d.db --json detect -m "$model" held --threshold 0.3 --store --candidates-out cand.csv --images img \
        --clinical held/clinical.csv >out.json 2>err
    rc=$?
    check "detect: exit 0 ($(tail -c 300 err))" "[ $rc = 0 ]"
    # the candidate filter alone: the same candidates ranked by the Hessian response
    "$python" -c 'import csv,sys
r=list(csv.DictReader(open("cand.csv")))
w=csv.writer(open("base.csv","w")); w.writerow(["seriesuid","coordX","coordY","coordZ","probability"])
[w.writerow([x["seriesuid"],x["coordX"],x["coordY"],x["coordZ"],x["response"]]) for x in r]'
    "$med" --db d.db --json eval -a held/annotations.csv -p cand.csv --bootstrap 200 >eval_cnn.json 2>>err
    "$med" --db d.db --json eval -a held/annotations.csv -p base.csv --bootstrap 0 >eval_base.json 2>>err
    "$python" - "$src" >report.txt 2>&1 <<'PY'
import csv, json, math, sqlite3, sys
cnn = json.loads(open("eval_cnn.json").read()); base = json.loads(open("eval_base.json").read())
print("CPM cnn %.4f [%.4f, %.4f], candidate filter %.4f" % (cnn["cpm"], cnn["cpm_lo"], cnn["cpm_hi"], base["cpm"]))
ann = [(r["seriesuid"], float(r["coordX"]), float(r["coordY"]), float(r["coordZ"]), float(r["diameter_mm"]))
       for r in csv.DictReader(open("held/annotations.csv"))]
cand = list(csv.DictReader(open("cand.csv")))
def hit(c):
    return any(a[0] == c["seriesuid"] and sum((float(c[k]) - a[i + 1]) ** 2 for i, k in enumerate(("coordX", "coordY", "coordZ"))) < (a[4] / 2) ** 2 for a in ann)
lab = [hit(c) for c in cand]; p = [float(c["probability"]) for c in cand]; q = [float(c["response"]) for c in cand]
def auc(s):
    pos = [x for x, l in zip(s, lab) if l]; neg = [x for x, l in zip(s, lab) if not l]
    return sum((a > b) + 0.5 * (a == b) for a in pos for b in neg) / (len(pos) * len(neg))
print("candidate AUC cnn %.4f, response %.4f (%d nodule candidates of %d)" % (auc(p), auc(q), sum(lab), len(lab)))
# the thresholds are well below what sample models trained by the documented recipe reach on these
# two studies, and leave room for retrained ones (docs/medical.md has the figures on held-out sets)
ok = cnn["cpm"] >= 0.1 and auc(p) >= 0.65
# world positions: each nodule that some candidate hits has one within 2 mm of its centre, or a third
# of its diameter (suppression keeps a nodule's most probable candidate, not the most central)
def dist(a, c): return math.dist((a[1], a[2], a[3]), (float(c["coordX"]), float(c["coordY"]), float(c["coordZ"])))
near = [min(dist(a, c) for c in cand if c["seriesuid"] == a[0]) / max(2.0, a[4] / 3) for a in ann
        if any(c["seriesuid"] == a[0] and dist(a, c) < a[4] / 2 for c in cand)]
print("nodules hit by a candidate: %d, nearest candidate at most %.2f of max(2 mm, diameter / 3) from the centre" % (len(near), max(near)))
ok = ok and len(near) >= 3 and max(near) <= 1.0
# the heads: for each nodule hit, its most probable hit's diameter and type (the network's) against
# nodules.csv: errors under 3.5 mm and at least 70% of the types right
nod = [(r["seriesuid"], float(r["coordX"]), float(r["coordY"]), float(r["coordZ"]), float(r["diameter_mm"]), r["type"])
       for r in csv.DictReader(open("held/nodules.csv"))]
heads = []
for a in nod:
    hits = [c for c in cand if c["seriesuid"] == a[0] and dist(a, c) < a[4] / 2]
    if hits:
        c = max(hits, key=lambda c: float(c["probability"]))
        heads.append((abs(float(c["cnn_diameter_mm"]) - a[4]), c["type"] == a[5]))
print("heads on %d nodules: diameter errors %s mm, %d types right" % (len(heads), " ".join("%.2f" % e for e, _ in heads),
      sum(t for _, t in heads)))
ok = ok and len(heads) >= 3 and max(e for e, _ in heads) <= 3.5 and sum(t for _, t in heads) >= 0.7 * len(heads)
# each finding: Lung-RADS from size and type, Brock from its record (a re-implementation of both)
clin = {r["seriesuid"]: r for r in csv.DictReader(open("held/clinical.csv"))}
found = [json.loads(l) for l in open("out.json")]
count = {}
for f in found: count[f["series_uid"]] = count.get(f["series_uid"], 0) + 1
for f in found:
    d, t = round(f["diameter_mm"], 1), f["type"]
    if t == "solid": lr = "2" if d < 6 else "3" if d < 8 else "4A" if d < 15 else "4B"
    elif t == "ground-glass": lr = "2" if d < 30 else "3"
    else:
        s = round(f["solid_mm"], 1)
        lr = "2" if d < 6 else "3" if s < 6 else "4A" if s < 8 else "4B"
    c = clin[f["series_uid"]]
    z = (-6.7892 + 0.0287 * (float(c["age"]) - 62) + 0.6011 * (c["sex"] == "F") + 0.2961 * (c["family_history"] == "1")
         + 0.2953 * (c["emphysema"] == "1") - 5.3854 * ((f["diameter_mm"] / 10) ** -0.5 - 1.58113883)
         + {"solid": 0, "part-solid": 0.377, "ground-glass": -0.1276}[t] - 0.0824 * (count[f["series_uid"]] - 4))
    brock = 1 / (1 + math.exp(-z))
    if f["lungrads"] != lr or abs(f["brock"] - brock) > 1e-4 or not (0 <= f["malignancy"] <= f["probability"]):
        ok = False; print("finding", f, "want", lr, brock)
# a finding reports the network's (bounded) diameter, the network's type or, where the finding says the
# type is uncertain, the density rule's, and its candidate's blob diameter beside them
for f in found:
    c = [c for c in cand if c["seriesuid"] == f["series_uid"] and math.dist((f["x_mm"], f["y_mm"], f["z_mm"]),
         (float(c["coordX"]), float(c["coordY"]), float(c["coordZ"]))) < 0.01]
    typed = c and f["type"] == (c[0]["density_type"] if "type" in (f["uncertain"] or "") else c[0]["type"])
    if len(c) != 1 or abs(float(c[0]["cnn_diameter_mm"]) - f["diameter_mm"]) > 0.01 or not typed or \
            abs(float(c[0]["diameter_mm"]) - f["blob_diameter_mm"]) > 0.01 or \
            f["uncertain"] not in (None, "type", "size", "type,size"):
        ok = False; print("finding", f, "candidate", c)
# one finding per nodule: after suppression no two candidates of a series are closer than the smaller
# of the radii they report (at least 3 mm)
close = [(a["seriesuid"], a["coordX"], b["coordX"]) for i, a in enumerate(cand) for b in cand[i + 1:]
         if a["seriesuid"] == b["seriesuid"] and dist((0, float(a["coordX"]), float(a["coordY"]), float(a["coordZ"])), b)
         < max(3, min(float(a["cnn_diameter_mm"]), float(b["cnn_diameter_mm"])) / 2)]
if close:
    ok = False; print("candidates within each other's extent:", close[:3])
db = sqlite3.connect("d.db")
rows = db.execute("select count(*) from med_findings").fetchone()[0]
unsure = db.execute("select count(*) from med_findings where uncertain is not null").fetchone()[0]
print("findings %d, rows %d, %d uncertain" % (len(found), rows, unsure))
ok = ok and rows == len(found) and len(found) > 0 and unsure == sum(f["uncertain"] is not None for f in found)
print("ok" if ok else "bad")
PY
    check "CNN above the candidate filter, positions, Lung-RADS, Brock, rows ($(tr '\n' ';' <report.txt))" \
        "[ \"\$(tail -1 report.txt)\" = ok ]"
    n=$(wc -l <out.json)
    check "one PNG per finding and a montage per series" "[ \$(ls img/*.png | wc -l) = $((n + 2)) ] && head -c 8 img/$(ls img | head -1) | od -c | grep -q 'P   N   G'"
    one=$(ls -d held/study_001)
    "$med" --db d.db --json detect -m "$model" "$one" --threshold 0.3 --store >out2.json 2>err
    rc=$?
    same() { "$python" -c 'import json,sys;[print(*(j[k] for k in ("series_uid","finding","x_mm","y_mm","z_mm","probability"))) for j in map(json.loads, open(sys.argv[1])) if j["series_uid"] == sys.argv[2]]' "$1" "$2"; }
    uid=$("$python" -c 'import json,sys;print(json.loads(open(sys.argv[1]).readline())["series_uid"])' out2.json 2>/dev/null)
    check "second run on one study: exit 0, the same findings there" "[ $rc = 0 ] && [ -n \"$uid\" ] && [ \"\$(same out.json $uid)\" = \"\$(same out2.json $uid)\" ]"
    check "second run: no duplicate rows" "[ \"\$(sql d.db 'select count(*) from med_findings')\" = $n ]"
    check "latest view: every series once, the re-run one from the second run" "[ \"\$(sql d.db \"select count(distinct run_id) || '|' || count(*) from med_findings_latest\")\" = \"2|$n\" ]"
    check "every row points to a detect run" "[ \"\$(sql d.db \"select count(*) from med_findings f join runs r using(run_id) where r.command = 'detect'\")\" = $n ]"
    ;;
bad)
    "$med" -q --seed 9201 phantom --out b --n 2 --slices 30 >/dev/null || exit 1
    s1=$(ls -d b/study_001/*/) s2=$(ls -d b/study_002/*/)
    f=$(ls "$s1" | head -1)
    head -c 700 "$s1/$f" >"$s1/trunc.dcm" && rm "$s1/$f"          # one slice truncated: the series has a gap
    "$python" - "$s2" <<'PY' || exit 1
import glob, sys, pydicom
for p in glob.glob(sys.argv[1] + "/*.dcm"):
    d = pydicom.dcmread(p); d.Modality = "MR"; d.save_as(p)
PY
    "$med" -q --seed 9202 phantom --out good --n 1 --slices 30 >/dev/null || exit 1
    echo "not dicom" >good/readme.txt
    "$med" --db b.db detect -m "$model" b good --store >out 2>err
    rc=$?
    check "bad inputs: exit 3 ($(tail -c 400 err))" "[ $rc = 3 ]"
    check "truncated file named" "grep -q 'rejected: .*trunc.dcm: element (.*) declares [0-9]* bytes where [0-9]* remain: truncated or corrupt' err"
    check "series with the gap named" "grep -Eq 'rejected: [0-9.]+: .*gap after .*/study_001/' err"
    check "MR series named as not CT" "grep -q 'not a CT series' err"
    check "the good study still detected and stored" "[ \"\$(sql b.db \"select n_ok || '|' || n_rejected from runs where command = 'detect'\")\" = \"1|3\" ]"
    check "rejections in input_errors" "[ \"\$(sql b.db 'select count(*) from input_errors')\" = 3 ]"
    head -c 5000 "$model" >bad.safetensors
    "$med" --db b.db detect -m bad.safetensors good >out 2>err
    rc=$?
    check "truncated model: exit 1, named" "[ $rc = 1 ] && grep -q 'bad.safetensors' err"
    printf 'seriesuid,age\nx,abc\n' >badclin.csv
    "$med" --db b.db detect -m "$model" good --clinical badclin.csv >out 2>err
    rc=$?
    check "bad clinical table: exit 1, file and line named" "[ $rc = 1 ] && grep -q 'badclin.csv: line 2: age' err"
    # a run that fails after it began its candidates file leaves last night's file as it was
    printf 'seriesuid,coordX\nlast,1\n' >cand.csv
    "$med" --db b.db detect -m "$model" good --candidates-out cand.csv --images no/such/folder >out 2>err
    rc=$?
    check "failed run: exit 1, the last candidates file kept whole, no temporary file left ($(tail -c 200 err))" \
        "[ $rc = 1 ] && [ \"\$(cat cand.csv)\" = \"\$(printf 'seriesuid,coordX\\nlast,1')\" ] && [ -z \"\$(ls -A | grep '^.tmp-')\" ]"
    "$med" --db b.db detect >out 2>err
    rc=$?
    check "no folder: usage error" "[ $rc = 2 ]"
    printf 'seriesuid,patient_id,age\n1.2.3,PX778899,60\n1.2.3,PX112233,70\n' >dupclin.csv
    "$med" --db b.db detect -m "$model" good --clinical dupclin.csv >out 2>err
    rc=$?
    check "clinical table naming a series twice: exit 1, file and lines named" "[ $rc = 1 ] && grep -q 'dupclin.csv: line 3: the same seriesuid as line 2' err"
    printf 'patient_id,age\nPX778899,60\nPX112233,70\nPX778899,61\n' >dupclin.csv
    "$med" --db b.db detect -m "$model" good --clinical dupclin.csv >out 2>err
    rc=$?
    check "clinical table naming a patient twice: exit 1, file and lines named, the ID not repeated ($(tail -c 200 err))" \
        "[ $rc = 1 ] && grep -q 'dupclin.csv: line 4: the same patient_id as line 2' err && ! grep -q PX778899 err out"
    # a Series UID that is a path: the pictures stay in their folder
    "$python" - good hostile <<'PY' || exit 1
import glob, os, sys
import pydicom
from pydicom import config
config.settings.writing_validation_mode = config.settings.reading_validation_mode = config.IGNORE
os.makedirs(sys.argv[2])
for i, p in enumerate(sorted(glob.glob(sys.argv[1] + "/study_*/*/*.dcm"))):
    d = pydicom.dcmread(p); d.SeriesInstanceUID = "../../x"; d.save_as(os.path.join(sys.argv[2], "f%03d.dcm" % i))
PY
    mkdir -p pics/a && touch stamp && sleep 1
    "$med" --db h.db detect -m "$model" hostile --threshold 0 --max-findings 3 --images pics/a/img --store >out 2>err
    rc=$?
    outside=$(find . -newer stamp -type f | grep -v '^./pics/a/img/\|^./h\.db\|^./out$\|^./err$')
    check "UID '../../x': detected ($(tail -c 300 err))" "[ $rc = 0 ]"
    check "UID '../../x': nothing written outside the pictures' folder ($(echo $outside | head -c 200))" "[ -z \"\$outside\" ]"
    check "UID '../../x': three findings and the montage, plain names ($(ls -A pics/a/img | tr '\n' ' '))" \
        "[ \$(ls -A pics/a/img | grep -Ec '^[A-Za-z0-9_-][A-Za-z0-9._-]*(_[123])?\.png$') = 4 ] && [ \$(ls -A pics/a/img | wc -l) = 4 ]"
    ;;
esac
echo "medical_detect_test $mode: $passed passed, $failed failed"
[ "$failed" = 0 ]
