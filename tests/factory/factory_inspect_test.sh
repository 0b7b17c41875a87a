#!/usr/bin/env bash
# factory_inspect_test.sh: moe-factory synth, train, inspect and eval end to end through the real
# program: exit codes, JSON output, database rows and idempotent re-runs, heatmaps and their names
# (never shared by two images), the agreement of eval with inspect and with an AUROC computed in
# Python, rejected images (missing paths among them) and model files, masks/ folders left out of a
# folder's walk, and the committed samples.
# Usage: factory_inspect_test.sh SOURCE_DIR MOE_FACTORY SCRATCH_DIR PYTHON
set -u
src=$1 fab=$2 scratch=$3 python=$4
rm -rf "$scratch" && mkdir -p "$scratch" && cd "$scratch" || exit 1
passed=0 failed=0
check() { if eval "$2"; then passed=$((passed + 1)); else failed=$((failed + 1)); echo "FAIL: $1" >&2; fi; }
sql() { "$python" -c 'import sqlite3,sys; c=sqlite3.connect(sys.argv[1]); print("\n".join("|".join(map(str,r)) for r in c.execute(sys.argv[2])))' "$@"; }
db=i.db

# ---- usage ------------------------------------------------------------------------------------------
"$fab" inspect --help >out 2>&1
check "inspect --help: exit 0" "[ $? = 0 ] && grep -q -- '--heatmaps' out"
"$fab" --db $db train -o m.safetensors >/dev/null 2>err
check "train without --good: usage error" "[ $? = 2 ] && grep -q -- '--good DIR is required' err"
"$fab" --db $db inspect x.png >/dev/null 2>err
check "inspect without --model: usage error" "[ $? = 2 ]"
"$fab" --db $db train --good a --mode fast -o m.safetensors >/dev/null 2>err
check "train --mode fast: usage error" "[ $? = 2 ] && grep -q 'supervised, anomaly or auto' err"

# ---- synth: layout and determinism -------------------------------------------------------------------
"$fab" --db $db --seed 5 synth -o data --classes 3 --good 8 --defect 6 --size 64 2>err
check "synth: exit 0" "[ $? = 0 ]"
check "synth: 8 good, 6 defect, 6 masks per class" "[ \$(ls data/class03/good | wc -l) = 8 ] && [ \$(ls data/class03/defect | wc -l) = 6 ] && [ \$(ls data/class03/masks | wc -l) = 6 ]"
"$fab" --db $db --seed 5 synth -o again --classes 1 --good 2 --defect 1 --size 64 2>/dev/null
check "synth: same seed, same images" "cmp -s data/class01/good/0001.png again/class01/good/0001.png && cmp -s data/class01/masks/0000.png again/class01/masks/0000.png"
check "synth: 64x64 8-bit grey PNGs, masks 0/255 with defect pixels" "\"$python\" -c '
from PIL import Image; import numpy as np
im = Image.open(\"data/class02/good/0000.png\"); m = np.array(Image.open(\"data/class02/masks/0000.png\"))
assert im.mode == \"L\" and im.size == (64, 64)
assert set(np.unique(m)) <= {0, 255} and (m == 255).sum() > 0'"

# ---- train: supervised on two classes, anomaly on the third -------------------------------------------
"$fab" --db $db --json train --good data/class01/good --defect data/class01/defect --masks data/class01/masks \
    --good data/class02/good --defect data/class02/defect --masks data/class02/masks --size 64 --epochs 8 \
    --mode supervised --min-steps 40 -o sup.safetensors >train.json 2>err
rc=$?; check "train supervised: exit 0 ($(tail -1 err))" "[ $rc = 0 ] && [ -s sup.safetensors ]"
check "train supervised: 8 epochs of 2 steps raised to 20 for --min-steps 40; the early-stopped epoch named" \
    "grep -q '20 epochs of 2 steps, to make at least 40 steps' err && grep -q 'kept the parameters of epoch' err"
check "train supervised: JSON with mode, threshold and the held-out counts" "\"$python\" -c '
import json; j = json.load(open(\"train.json\"))
assert j[\"mode\"] == \"supervised\" and j[\"size\"] == 64 and 0 < j[\"threshold\"] < 1
assert j[\"threshold_method\"] == \"fpr 0.01\" and j[\"val_good\"] == 4 and j[\"val_defect\"] == 3
assert j[\"train_good\"] + j[\"val_good\"] == 16 and j[\"train_defect\"] + j[\"val_defect\"] == 12'"
check "model file: safetensors with the settings in its metadata" "\"$python\" -c '
import json, struct; f = open(\"sup.safetensors\", \"rb\"); n = struct.unpack(\"<Q\", f.read(8))[0]
h = json.loads(f.read(n)); s = json.loads(h[\"__metadata__\"][\"moesuite.inspect\"])
assert s[\"mode\"] == \"supervised\" and s[\"map\"] == 8 and abs(s[\"threshold\"] - json.load(open(\"train.json\"))[\"threshold\"]) < 1e-9'"
check "model row stored" "[ \"\$(sql $db \"select mode, input_size, train_good + val_good from fab_inspect_models\")\" = 'supervised|64|16' ]"
"$fab" --db $db --json train --good data/class01/good --defect data/class01/defect --good data/class02/good \
    --defect data/class02/defect --size 64 --epochs 8 --min-steps 16 --bank 100 -o auto.safetensors >auto.json 2>err
check "train auto with 12 defects: both models trained, the one with the higher held-out AUROC kept and named" "[ $? = 0 ] && \"$python\" -c '
import json, re; j = json.load(open(\"auto.json\")); e = open(\"err\").read()
m = re.search(r\"auto: held-out AUROC ([0-9.]+) supervised, ([0-9.]+) good-only: keeping the (good-only|supervised) model\", e)
assert m, e
s, a, kept = float(m.group(1)), float(m.group(2)), m.group(3)
assert kept == (\"good-only\" if a >= s else \"supervised\")
assert j[\"mode\"] == (\"anomaly\" if kept == \"good-only\" else \"supervised\") and abs(j[\"val_auroc\"] - max(a, s)) < 1e-3'"
"$fab" --db $db --json train --good data/class03/good -o ano.safetensors --size 64 --bank 100 >ano.json 2>err
check "train auto with good images only: anomaly, threshold by false-alarm rate, every good image cross-fitted" "[ $? = 0 ] && \"$python\" -c '
import json; j = json.load(open(\"ano.json\"))
assert j[\"mode\"] == \"anomaly\" and j[\"threshold_method\"] == \"fpr 0.01\" and j[\"threshold\"] > 0
assert j[\"train_good\"] == j[\"val_good\"] == 8 and j[\"val_defect\"] == 0'"
"$fab" --db $db --json train --good data/class03/good -o ano2.safetensors --size 64 --bank 100 --folds 9 >/dev/null 2>err
check "train anomaly: more folds than good images refused" "[ $? != 0 ] && grep -q '8 good images cannot be split in 9 folds' err"

# ---- inspect: verdicts, rows, heatmaps, idempotence ---------------------------------------------------
"$fab" --db $db --json inspect -m sup.safetensors --heatmaps heat data/class03/good data/class03/defect >insp.json 2>err
check "inspect: exit 0" "[ $? = 0 ]"
check "inspect: one JSON line per image (14)" "[ \$(wc -l <insp.json) = 14 ]"
check "inspect: verdicts, boxes only on defects, hashes as Python's" "\"$python\" -c '
import json, hashlib
for l in open(\"insp.json\"):
    j = json.loads(l)
    assert j[\"verdict\"] == (\"defect\" if j[\"score\"] > j[\"threshold\"] else \"ok\")
    b = j[\"bbox\"]
    assert (b is None) == (j[\"verdict\"] == \"ok\")
    if b: assert 0 <= b[0] <= b[2] < 64 and 0 <= b[1] <= b[3] < 64
    assert j[\"sha256\"] == hashlib.sha256(open(j[\"path\"], \"rb\").read()).hexdigest()
    assert j[\"ms\"] > 0'"
check "inspect: 14 rows" "[ \"\$(sql $db 'select count(*) from fab_inspections')\" = 14 ]"
check "heatmaps: RGB overlays of the image size" "\"$python\" -c '
from PIL import Image; import glob
fs = sorted(glob.glob(\"heat/*.png\")); assert len(fs) == 14, len(fs)
for f in fs:
    im = Image.open(f); assert im.mode == \"RGB\" and im.size == (64, 64)'"
good0=good_0000-$("$python" -c 'import hashlib; print(hashlib.sha256(b"good/0000").hexdigest()[:16])').png
check "heatmap named after the path below its argument, stored ($good0)" "[ \"\$(sql $db \"select heatmap from fab_inspections where path = 'data/class03/good/0000.png'\")\" = heat/$good0 ] && [ -s heat/$good0 ]"
check "heatmaps: 14 names, none shared, each a file" "[ \"\$(sql $db 'select count(distinct heatmap) from fab_inspections')\" = 14 ] && [ \"\$(sql $db 'select heatmap from fab_inspections' | xargs ls | wc -l)\" = 14 ]"
"$fab" --db $db inspect -m sup.safetensors data/class03/good data/class03/defect >/dev/null 2>err
check "re-inspect: exit 0, no new rows" "[ $? = 0 ] && [ \"\$(sql $db 'select count(*) from fab_inspections')\" = 14 ]"
check "latest view: one row per image" "[ \"\$(sql $db 'select count(*) from fab_latest_inspections')\" = 14 ]"
check "runs recorded" "[ \"\$(sql $db \"select count(*) from runs where command = 'inspect' and status = 'ok'\")\" = 2 ]"

# ---- eval agrees with inspect and with Python's AUROC ------------------------------------------------
"$fab" --db $db --json eval -m sup.safetensors --good data/class03/good --defect data/class03/defect \
    --masks data/class03/masks --roc roc.png >eval.json 2>err
check "eval: exit 0" "[ $? = 0 ] && [ -s roc.png ]"
check "eval: counts, F1, AUROC as recomputed from inspect's scores" "\"$python\" -c '
import json
e = json.load(open(\"eval.json\"))
rows = [json.loads(l) for l in open(\"insp.json\")]
pos = [r[\"score\"] for r in rows if \"/defect/\" in r[\"path\"]]; neg = [r[\"score\"] for r in rows if \"/good/\" in r[\"path\"]]
assert e[\"n_good\"] == 8 and e[\"n_defect\"] == 6
pred = sum(r[\"verdict\"] == \"defect\" for r in rows)
assert e[\"tp\"] + e[\"fp\"] == pred, (e, pred)
assert e[\"tp\"] == sum(r[\"verdict\"] == \"defect\" for r in rows if \"/defect/\" in r[\"path\"])
auc = sum((p > n) + 0.5 * (p == n) for p in pos for n in neg) / (len(pos) * len(neg))
assert abs(e[\"image_auroc\"] - auc) < 1e-9, (e[\"image_auroc\"], auc)
assert abs(e[\"accuracy\"] - (e[\"tp\"] + e[\"tn\"]) / 14) < 1e-12
f1 = 2 * e[\"tp\"] / (2 * e[\"tp\"] + e[\"fp\"] + e[\"fn\"]) if e[\"tp\"] else 0
assert abs(e[\"f1\"] - f1) < 1e-12 and 0 < e[\"pixel_auroc\"] <= 1'"
"$fab" --db $db eval -m sup.safetensors --good data/class03/good --defect data/class03/defect >/dev/null 2>&1
"$fab" --db $db eval -m sup.safetensors --good data/class03/good --defect data/class03/defect >/dev/null 2>&1
check "eval rows: one per model and data set" "[ \"\$(sql $db 'select count(*) from fab_inspect_evals')\" = 2 ] && [ \"\$(sql $db 'select count(*) from fab_inspect_evals where pixel_auroc is null')\" = 1 ]"

# ---- bad images: each rejected, the batch goes on -----------------------------------------------------
mkdir bad
for f in bad_crc bad_truncated bad_bomb bad_text bad_empty; do cp "$src/tests/factory/png/$f.png" bad/; done
cp data/class03/good/0000.png bad/fine.png
"$fab" --db $db inspect -m ano.safetensors bad >out 2>err
check "bad images: exit 3" "[ $? = 3 ]"
check "the good image still inspected" "grep -q '^bad/fine.png' out"
for f in bad_crc:'CRC error' bad_truncated:'truncated' bad_bomb:'above the memory budget' bad_text:'not a PNG file' bad_empty:'not a PNG file'; do
    name=${f%%:*} want=${f#*:}
    check "bad/$name.png rejected: $want" "grep -q \"rejected: bad/$name.png: .*$want\" err"
done
check "rejections in input_errors" "[ \"\$(sql $db \"select count(*) from input_errors e join runs r using (run_id) where r.status = 'partial' and r.command = 'inspect'\")\" = 5 ]"
check "nothing of a rejected image stored" "[ \"\$(sql $db \"select count(*) from fab_inspections where path like 'bad/bad_%'\")\" = 0 ]"

# ---- a missing path: rejected, the batch goes on ----------------------------------------------------------
"$fab" --db $db inspect -m sup.safetensors missing.png data/class03/good/0001.png nowhere/ >out 2>err
check "missing paths: exit 3, each named" "[ $? = 3 ] && grep -q 'rejected: missing.png: cannot open' err && grep -q 'rejected: nowhere/: cannot open' err"
check "missing paths: the image after them inspected" "[ \$(wc -l <out) = 1 ] && grep -q '^data/class03/good/0001.png' out"
check "missing paths in input_errors" "[ \"\$(sql $db \"select group_concat(input, ' ') from input_errors where run_id = (select run_id from runs where command = 'inspect' order by started_at desc limit 1)\")\" = 'missing.png nowhere/' ]"

# ---- folders: masks/ left out of the walk, heatmap names that never collide ------------------------------
"$fab" --db w.db --json inspect -m sup.safetensors --heatmaps walk data/class03 >walk.json 2>err
check "a class folder: exit 0, its 14 images and not its 6 masks" "[ $? = 0 ] && [ \$(wc -l <walk.json) = 14 ] && ! grep -q '/masks/' walk.json"
"$fab" --db w.db inspect -m sup.safetensors data/class03/masks >out 2>err
check "a masks folder given itself is inspected" "[ $? = 0 ] && [ \$(wc -l <out) = 6 ]"
mkdir -p clash/a clash/a_b l1/good l2/good up/sub
cp data/class01/good/0000.png clash/a/b_c.png
cp data/class01/defect/0000.png clash/a_b/c.png
cp data/class02/good/0000.png l1/good/0000.png
cp data/class02/defect/0000.png l2/good/0000.png
cp data/class03/defect/0001.png up/x.png
(cd up/sub && "$fab" --db ../../w.db --json inspect -m ../../sup.safetensors --heatmaps ../../clash_heat \
    ../../clash ../../l1/good ../../l2/good ../x.png ../../clash/a/b_c.png >../../clash.json 2>../../err)
check "clashing paths: exit 0" "[ $? = 0 ] && [ \$(wc -l <clash.json) = 6 ]"
check "clashing paths: one heatmap per image, named after its own path ($(ls clash_heat | tr '\n' ' '))" "\"$python\" -c '
import json, hashlib, os
h = lambda s: hashlib.sha256(s.encode()).hexdigest()[:16]
rows = [json.loads(l) for l in open(\"clash.json\")]
got = {(r[\"path\"], os.path.basename(r[\"heatmap\"])) for r in rows}
want = {(\"../../clash/a/b_c.png\", \"clash_a_b_c-%s.png\" % h(\"clash/a/b_c\")),
        (\"../../clash/a_b/c.png\", \"clash_a_b_c-%s.png\" % h(\"clash/a_b/c\")),
        (\"../../l1/good/0000.png\", \"l1_good_0000-%s.png\" % h(\"l1/good/0000\")),
        (\"../../l2/good/0000.png\", \"l2_good_0000-%s.png\" % h(\"l2/good/0000\")),
        (\"../x.png\", \"x.png\"), (\"../../clash/a/b_c.png\", \"b_c.png\")}
assert got == want, got ^ want
assert sorted(os.listdir(\"clash_heat\")) == sorted(n for _, n in want)'"
check "clashing paths: each heatmap drawn from its own image" "! cmp -s clash_heat/l1_good_0000-*.png clash_heat/l2_good_0000-*.png && ! cmp -s clash_heat/clash_a_b_c-$("$python" -c 'import hashlib; print(hashlib.sha256(b"clash/a/b_c").hexdigest()[:16])').png clash_heat/clash_a_b_c-$("$python" -c 'import hashlib; print(hashlib.sha256(b"clash/a_b/c").hexdigest()[:16])').png"
"$fab" --db w.db inspect -m sup.safetensors --heatmaps twice_heat up/x.png up/x.png ./up/x.png >out 2>err
check "a file given three times: exit 0, three verdicts, one heatmap" "[ $? = 0 ] && [ \$(wc -l <out) = 3 ] && [ \"\$(ls twice_heat)\" = x.png ]"

# ---- bad model files -------------------------------------------------------------------------------------
head -c 1000 sup.safetensors >cut.safetensors
"$fab" --db $db inspect -m cut.safetensors data/class03/good >/dev/null 2>err
check "truncated model: exit 1, named" "[ $? = 1 ] && grep -q 'cut.safetensors' err"
"$python" -c 'import struct, json; h = json.dumps({"__metadata__": {"moesuite.inspect": "{}"}}).encode(); open("empty.safetensors", "wb").write(struct.pack("<Q", len(h)) + h)'
"$fab" --db $db inspect -m empty.safetensors data/class03/good >/dev/null 2>err
check "model without a network: exit 1, named" "[ $? = 1 ] && grep -q 'empty.safetensors' err"

# ---- the committed samples and models -------------------------------------------------------------------------
samples=$src/data/samples/factory/inspection
for m in supervised anomaly_class01; do
    "$fab" --db $db --json inspect -m "$samples/$m.safetensors" "$samples"/images/class0[12]/{good,defect} >s.json 2>err
    check "samples with $m: exit 0, 12 images" "[ $? = 0 ] && [ \$(wc -l <s.json) = 12 ]"
done
"$fab" --db $db inspect -m "$samples/supervised.safetensors" --heatmaps sample_heat "$samples/images" >out 2>err
check "samples as the README inspects them (the images folder): exit 0, 12 images, no masks" "[ $? = 0 ] && [ \$(wc -l <out) = 12 ] && ! grep -q masks out && [ \$(ls sample_heat | wc -l) = 12 ]"

# ---- memory: a small file that decodes huge is refused by name; a batch holds what the budget allows -------
"$python" - <<'PY' || exit 1
import os, struct, zlib
def png(path, w, h):  # RGBA, 16 bits per sample, all zero: a few hundred KB that decode to w * h * 8 bytes
    def chunk(t, d): return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d) & 0xffffffff)
    raw = zlib.compress((b"\0" + bytes(w * 8)) * h, 9)
    with open(path, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 16, 6, 0, 0, 0)) + chunk(b"IDAT", raw) + chunk(b"IEND", b""))
os.makedirs("mem", exist_ok=True)
png("mem/huge.png", 8000, 8000)
for i in range(4): png("mem/m%d.png" % i, 1500, 1500)
PY
MOESUITE_MEMORY_MB=100 /usr/bin/time -f %M -o mem.rss "$fab" --db mem.db inspect -m sup.safetensors mem >out 2>err
rc=$?
check "an 8000 x 8000 16-bit PNG of $(($(stat -c %s mem/huge.png) / 1024)) KB: rejected by name, the need and the budget named; the rest inspected ($(tail -c 300 err))" \
    "[ $rc = 3 ] && grep -q 'rejected: mem/huge.png: a 8000 x 8000 image needs about 1465 MiB to decode, above the memory budget of 100 MiB' err && [ \$(grep -c '	ok	' out) = 4 ]"
# four 54 MiB decodes under a 100 MiB budget: one at a time (about 80 MB in all), not four at once (about 180 MB);
# not measured under the sanitizers, whose allocator keeps freed memory
if [ -z "${LSAN_OPTIONS:-}" ]; then
    check "a budget of 100 MiB holds the batch to it ($(tail -1 mem.rss) KB)" "[ \$(tail -1 mem.rss) -lt 140000 ]"
fi

# ---- the latest view leaves out a run that never finished (killed: its row stays 'running') ----------------
"$fab" --db unfinished.db inspect -m sup.safetensors data/class03/good >/dev/null 2>&1
"$fab" --db unfinished.db inspect -m sup.safetensors data/class03/defect >/dev/null 2>&1
"$python" -c 'import sqlite3,sys; c=sqlite3.connect(sys.argv[1]); c.execute("update runs set status = '"'running'"' where arguments like '"'%defect%'"'"); c.commit()' unfinished.db
check "fab_latest_inspections: the finished run's 8 images, none of the unfinished one's" \
    "[ \"\$(sql unfinished.db \"select count(*) || '|' || sum(path like '%defect%') from fab_latest_inspections\")\" = '8|0' ]"

# ---- storage failing under good images: the run's failure, no image blamed ---------------------------------
# heatmaps onto a full file system (a small tmpfs, when one can be mounted here): every verdict is
# stored, without its heatmap; the run fails (exit 1) and rejects nothing
mkdir -p fullheat
if mount -t tmpfs -o size=64k tmpfs fullheat 2>/dev/null; then
    head -c 65536 /dev/zero >fullheat/fill 2>/dev/null
    "$fab" --db full.db inspect -m sup.safetensors --heatmaps fullheat data/class03/good >out 2>err
    rc=$?
    check "heatmaps on a full disk: exit 1, named, the run failed, nothing rejected ($(tail -c 300 err))" \
        "[ $rc = 1 ] && grep -q 'heatmap not written' err && ! grep -q 'rejected:' err && [ \"\$(sql full.db \"select status || n_ok || n_rejected from runs\")\" = failed80 ] && [ \"\$(sql full.db 'select count(*) from input_errors')\" = 0 ] && [ \"\$(sql full.db 'select count(*) from fab_inspections where heatmap is null')\" = 8 ]"
    umount fullheat
else
    echo "skipped: heatmaps on a full disk (cannot mount a tmpfs here)"
fi
# pages of the results table corrupted mid-file: the store fails, not the images
"$fab" --db corrupt.db inspect -m sup.safetensors data/class03/good >/dev/null 2>err
"$python" - corrupt.db <<'PY'
import sqlite3, sys
c = sqlite3.connect(sys.argv[1])
c.execute("PRAGMA wal_checkpoint(TRUNCATE)")
root = c.execute("SELECT rootpage FROM sqlite_schema WHERE name = 'fab_inspections'").fetchone()[0]
size = c.execute("PRAGMA page_size").fetchone()[0]
c.close()
with open(sys.argv[1], "r+b") as f:
    f.seek((root - 1) * size)
    f.write(b"\xa5" * size)
PY
"$fab" --db corrupt.db inspect -m sup.safetensors data/class03/defect >out 2>err
rc=$?
check "results table corrupt: exit 1, the store named, no image rejected ($(tail -c 300 err))" \
    "[ $rc = 1 ] && grep -q 'the results store failed' err && grep -q 'malformed' err && [ \"\$(sql corrupt.db \"select count(*) from input_errors\")\" = 0 ] && [ \"\$(sql corrupt.db \"select status from runs order by started_at desc limit 1\")\" = failed ]"

echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
