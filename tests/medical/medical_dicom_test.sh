#!/usr/bin/env bash
# medical_dicom_test.sh: moe-medical phantom, scan and convert end to end: deterministic phantoms,
# series listed and stored without patient names or birth dates and with the salted ID hash,
# idempotent re-runs, NIfTI geometry and voxels checked against pydicom, and every bad input
# (truncated files, a missing slice, a duplicate position, mixed orientations, gantry tilt, too few
# slices, a non-CT series, junk files, an unknown UID) named on stderr and in input_errors while
# the batch goes on.
# Usage: medical_dicom_test.sh SOURCE_DIR MOE_MEDICAL SCRATCH_DIR PYTHON
set -u
src=$1 med=$2 scratch=$3 python=$4
rm -rf "$scratch" && mkdir -p "$scratch" && cd "$scratch" || exit 1
passed=0 failed=0
check() { if eval "$2"; then passed=$((passed + 1)); else failed=$((failed + 1)); echo "FAIL: $1" >&2; fi; }
sql() { "$python" -c 'import sqlite3,sys; c=sqlite3.connect(sys.argv[1]); print("\n".join("|".join(map(str,r)) for r in c.execute(sys.argv[2])))' "$@"; }
export MOESUITE_ID_SALT=test-salt-7

# ---- phantom: deterministic, real DICOM, the CSV files ------------------------------------------
"$med" --seed 5 phantom --out ph --n 3 --size 64 --slices 24 >ph.out 2>err
rc=$?; check "phantom: exit 0 ($(head -c 300 err))" "[ $rc = 0 ]"
check "phantom: one line per study" "[ \$(wc -l <ph.out) = 3 ]"
"$med" --seed 5 phantom --out ph2 --n 3 --size 64 --slices 24 >/dev/null 2>&1
check "phantom: the same seed writes the same files" "diff -r ph ph2 >/dev/null"
"$med" --seed 6 phantom --out ph3 --n 1 --size 64 --slices 24 >/dev/null 2>&1
check "phantom: another seed writes other files" "! diff -q ph/clinical.csv ph3/clinical.csv >/dev/null"
check "annotations.csv in LUNA16 format" "[ \"\$(head -1 ph/annotations.csv)\" = seriesuid,coordX,coordY,coordZ,diameter_mm ]"
check "clinical.csv columns" "[ \"\$(head -1 ph/clinical.csv)\" = seriesuid,patient_id,age,sex,smoking,family_history,emphysema,note ]"
check "truth.csv has one label per series" "[ \$(wc -l <ph/truth.csv) = 4 ]"
"$python" - ph <<'EOF' >pyd.out 2>&1
import glob, os, sys
import pydicom
files = glob.glob(os.path.join(sys.argv[1], "study_*", "*", "*.dcm"))
series = {}
for f in files:
    d = pydicom.dcmread(f)
    assert d.Modality == "CT" and d.SOPClassUID == "1.2.840.10008.5.1.4.1.1.2", f
    series.setdefault(d.SeriesInstanceUID, []).append(d)
assert len(series) == 3, len(series)
for uid, ds in series.items():
    assert len(ds) == 24
print("pydicom reads", len(files), "files")
EOF
check "pydicom reads the phantom files ($(tail -1 pyd.out))" "grep -q 'pydicom reads 72 files' pyd.out"

# ---- scan --store ------------------------------------------------------------------------------------
"$med" --db m.db scan --store ph >scan.out 2>err
rc=$?; check "scan: exit 0 ($(head -c 300 err))" "[ $rc = 0 ]"
check "scan: one line per series" "[ \$(grep -c '	CT	64x64x24	' scan.out) = 3 ]"
check "med_series rows" "[ \"\$(sql m.db 'select count(*) from med_series where usable = 1 and n_slices = 24')\" = 3 ]"
check "scan with a salt: no warning about patient IDs" "! grep -q 'patient IDs' err"
# every table of moe-medical exists after any one command, empty where its command never ran
check "scan --store alone creates the tables of eval and detect" "[ \"\$(sql m.db \"select count(*) from sqlite_master where type = 'table' and name in ('med_series', 'med_volumes', 'med_froc_evals', 'med_findings')\")\" = 4 ] && [ \"\$(sql m.db 'select (select count(*) from med_froc_evals) + (select count(*) from med_findings)')\" = 0 ]"
check "scan --store alone: every component of moe-medical recorded" "[ \"\$(sql m.db \"select group_concat(component) from (select component from schema_versions where component like 'med%' order by component)\")\" = med,med_eval,med_find ]"
first=$(ls -d ph/study_001/*/ | head -1)
"$python" - "$first" m.db <<'EOF' >privacy.out 2>&1
import glob, hashlib, sqlite3, sys
import pydicom
d = pydicom.dcmread(sorted(glob.glob(sys.argv[1] + "/*.dcm"))[0])
want = hashlib.sha1(b"test-salt-7\0" + d.PatientID.encode()).hexdigest()
c = sqlite3.connect(sys.argv[2])
got = c.execute("select patient_hash from med_series where series_uid = ?", (d.SeriesInstanceUID,)).fetchone()[0]
print("hash", "ok" if got == want else "differs: %s %s" % (got, want))
dump = "\n".join(c.iterdump())
for what, value in (("name", str(d.PatientName)), ("birth date", d.PatientBirthDate), ("patient id", d.PatientID)):
    print(what, "absent" if value and value not in dump else "FOUND")
EOF
check "patient hash = SHA-1(salt, NUL, ID) ($(head -1 privacy.out))" "grep -q '^hash ok' privacy.out"
check "no patient name in the database" "grep -q '^name absent' privacy.out"
check "no birth date in the database" "grep -q '^birth date absent' privacy.out"
check "no plain patient ID in the database" "grep -q '^patient id absent' privacy.out"
MOESUITE_ID_SALT= "$med" --db nosalt.db scan --store ph >/dev/null 2>err
check "without a salt: warned, and no patient hash stored" "grep -q 'patient IDs are not stored' err && [ \"\$(sql nosalt.db 'select count(*) from med_series where patient_hash is null')\" = 3 ]"
check "without a salt: one warning for three series, saying what to do ($(head -c 300 err))" "[ \$(grep -c 'patient IDs' err) = 1 ] && grep -q 'set MOESUITE_ID_SALT (a secret, the same every night)' err"
# as the nightly run does: convert after scan has nothing new to say about those series
MOESUITE_ID_SALT= "$med" --db nosalt.db convert --store -o nosalt_nii ph >/dev/null 2>err
rc=$?; check "without a salt: convert after scan does not warn again ($(head -c 300 err))" "[ \$rc = 0 ] && ! grep -q 'patient IDs' err"
MOESUITE_ID_SALT= "$med" --db nosalt2.db convert --store -o nosalt_nii ph >/dev/null 2>err
check "without a salt: convert alone warns once" "[ \$(grep -c 'patient IDs are not stored' err) = 1 ]"
MOESUITE_ID_SALT= "$med" --db nosalt3.db scan ph >/dev/null 2>err
check "without a salt or --store: no warning" "! grep -q 'patient IDs' err"
"$med" --db m.db scan --store ph >/dev/null 2>&1
check "re-run: no new rows" "[ \"\$(sql m.db 'select count(*) from med_series')\" = 3 ]"
check "two scan runs recorded" "[ \"\$(sql m.db \"select count(*) from runs where command = 'scan' and status = 'ok'\")\" = 2 ]"
"$med" --json scan ph >scan.json 2>/dev/null
check "scan --json: one object per series with spacing and problems" "\"$python\" -c 'import json,sys; r=[json.loads(l) for l in open(\"scan.json\")]; assert len(r)==3 and all(len(x[\"spacing\"])==3 and x[\"problems\"]==[] and x[\"usable\"] for x in r)'"

# ---- convert: NIfTI geometry and voxels against pydicom ----------------------------------------------
"$med" --db m.db convert --store -o nii ph >conv.out 2>err
rc=$?; check "convert: exit 0 ($(head -c 300 err))" "[ $rc = 0 ]"
check "convert: three volumes" "[ \$(ls nii/*.nii.gz | wc -l) = 3 ]"
check "med_volumes rows" "[ \"\$(sql m.db 'select count(*) from med_volumes where nz = 24 and resampled = 0')\" = 3 ]"
"$med" --db m.db convert --store -o nii ph >/dev/null 2>&1
check "convert re-run: no new rows" "[ \"\$(sql m.db 'select count(*) from med_volumes')\" = 3 ]"
cat >niicheck.py <<'EOF'
import glob, gzip, os, struct, sys
import numpy as np
import pydicom

def nifti(path):
    b = gzip.open(path).read()
    dims = struct.unpack_from("<8h", b, 40)
    dtype = {4: "<i2", 16: "<f4"}[struct.unpack_from("<h", b, 70)[0]]
    off = int(struct.unpack_from("<f", b, 108)[0])
    qb, qc, qd, qx, qy, qz = struct.unpack_from("<6f", b, 256)
    pix = struct.unpack_from("<8f", b, 76)
    codes = struct.unpack_from("<2h", b, 252)
    srow = np.array(struct.unpack_from("<12f", b, 280), dtype=float).reshape(3, 4)
    qa = np.sqrt(max(0.0, 1 - qb * qb - qc * qc - qd * qd))
    R = np.array([[qa*qa+qb*qb-qc*qc-qd*qd, 2*(qb*qc-qa*qd), 2*(qb*qd+qa*qc)],
                  [2*(qb*qc+qa*qd), qa*qa+qc*qc-qb*qb-qd*qd, 2*(qc*qd-qa*qb)],
                  [2*(qb*qd-qa*qc), 2*(qc*qd+qa*qb), qa*qa+qd*qd-qc*qc-qb*qb]])
    q = np.hstack([R * np.array([pix[1], pix[2], pix[3] * pix[0]]), [[qx], [qy], [qz]]])
    n = dims[1] * dims[2] * dims[3]
    data = np.frombuffer(b, dtype=dtype, count=n, offset=off).reshape(dims[3], dims[2], dims[1])
    return data, srow, q, codes

bad = compared = 0
for folder in sorted(glob.glob(os.path.join(sys.argv[1], "study_*", "*"))):
    ds = [pydicom.dcmread(f) for f in glob.glob(folder + "/*.dcm")]
    iop = np.array(ds[0].ImageOrientationPatient, dtype=float)
    normal = np.cross(iop[:3], iop[3:])
    ds.sort(key=lambda d: float(np.dot(np.array(d.ImagePositionPatient, dtype=float), normal)))
    pos = np.array([d.ImagePositionPatient for d in ds], dtype=float)
    step = np.median(np.diff(pos @ normal))
    ps = [float(x) for x in ds[0].PixelSpacing]
    lps = np.column_stack([iop[:3] * ps[1], iop[3:] * ps[0], normal * step, pos[0]])
    want = np.diag([-1.0, -1.0, 1.0]) @ lps
    data, srow, q, codes = nifti(os.path.join(sys.argv[2], ds[0].SeriesInstanceUID + ".nii.gz"))
    try:  # pydicom decodes uncompressed and RLE here, not JPEG-LS or JPEG lossless
        hu = np.stack([d.pixel_array * float(d.RescaleSlope) + float(d.RescaleIntercept) for d in ds])
        same = np.array_equal(data.astype(float), hu.astype(float))
        compared += 1
    except RuntimeError:
        same = True
    errs = [np.abs(srow - want).max(), np.abs(q - want).max()]
    ok = max(errs) < 1e-3 and codes == (1, 1) and same
    bad += not ok
    print(ds[0].SeriesInstanceUID, "ok" if ok else "BAD sform %.2g qform %.2g codes %s voxels %s" % (errs[0], errs[1], codes, same))
print("voxels compared in", compared)
print("bad", bad)
EOF
"$python" niicheck.py ph nii >nii.out 2>&1
check "NIfTI sform and qform = pydicom's geometry in RAS, voxels = pydicom's HU ($(grep -v ' ok$' nii.out | head -3 | tr '\n' ' '))" "grep -q '^bad 0' nii.out && ! grep -q 'compared in 0' nii.out"
series1=$(sed -n 1p scan.out | cut -f1)
"$med" --db m.db convert -o one.nii.gz "$first" >/dev/null 2>err
rc=$?; check "convert FOLDER -o FILE ($(head -c 200 err))" "[ $rc = 0 ] && [ -s one.nii.gz ]"
"$med" --db m.db convert --in ph -o two.nii.gz "$series1" >/dev/null 2>err
check "convert --in DIR UID -o FILE" "[ $? = 0 ] && [ -s two.nii.gz ]"
"$med" --db m.db convert --in ph -o x.nii.gz 1.2.3.4.5.6 >/dev/null 2>err
check "unknown UID: rejected, exit 3" "[ $? = 3 ] && grep -q 'rejected: 1.2.3.4.5.6: no series with this UID under ph' err"
"$med" --db m.db convert -o many.nii.gz ph >/dev/null 2>err
check "several series into one file: usage error" "[ $? = 2 ]"
"$med" --db m.db convert ph >/dev/null 2>err
check "convert without -o: usage error" "[ $? = 2 ]"
"$med" phantom --n 2 >/dev/null 2>err
check "phantom without --out: usage error" "[ $? = 2 ]"
"$med" phantom --out bogus --variant odd >/dev/null 2>err
check "phantom --variant odd: usage error naming the value" "[ $? = 2 ] && grep -q \"standard, varied or shifted, not 'odd'\" err"
# the shifted variant: slices 2-3 mm apart and a 300-360 mm field of view (the standard one draws
# 0.625-2.5 mm and 330-420 mm), and its own draw: not the standard variant's files
"$med" --seed 5 --json phantom --variant shifted --out shifted --n 6 --size 64 --slices 8 >shifted.json 2>err
check "phantom --variant shifted: 2-3 mm slices, 4.7-5.6 mm pixels at 64 ($(tr '\n' ' ' <shifted.json | head -c 300))" \
    "\"$python\" -c 'import json, sys
s = [json.loads(l) for l in open(\"shifted.json\")]
sys.exit(not (len(s) == 6 and all(x[\"spacing\"][2] in (2.0, 2.5, 3.0) and 300 / 64 <= x[\"spacing\"][0] <= 360 / 64 for x in s)))'"
check "phantom --variant shifted: other studies than the standard variant's" "! diff -q ph/clinical.csv shifted/clinical.csv >/dev/null"
# the varied variant: each study its own scanner (slice spacing 0.625-5 mm, field of view 300-420 mm)
# and 0 to 6 nodules
"$med" --seed 5 --json phantom --variant varied --out varied --n 20 --size 64 --slices 24 >varied.json 2>err
check "phantom --variant varied: spacings of 0.625-5 mm, several per set, 0-6 nodules ($(tr '\n' ' ' <varied.json | head -c 300))" \
    "\"$python\" -c 'import json, sys
s = [json.loads(l) for l in open(\"varied.json\")]
dz = set(x[\"spacing\"][2] for x in s)
ok = len(s) == 20 and dz <= {0.625, 0.8, 1.0, 1.25, 1.5, 2.0, 2.5, 3.0, 4.0, 5.0} and len(dz) >= 4 and max(dz) > 2.5
ok = ok and all(300 / 64 <= x[\"spacing\"][0] <= 420 / 64 and 0 <= x[\"nodules\"] <= 6 for x in s) and max(x[\"nodules\"] for x in s) > 4
sys.exit(not ok)'"

# ---- bad inputs ----------------------------------------------------------------------------------------
"$med" --seed 9 phantom --out src --n 1 --size 64 --slices 16 >/dev/null 2>&1
"$python" - src bad <<'EOF' >mkbad.out 2>&1
import copy, glob, os, sys
import pydicom
src, out = sys.argv[1], sys.argv[2]
cases = []
files = glob.glob(os.path.join(src, "study_*", "*", "*.dcm"))
ds = [pydicom.dcmread(f) for f in files]
ds.sort(key=lambda d: float(d.ImagePositionPatient[2]))

def series(case, items, edit=None):
    os.makedirs(os.path.join(out, case))
    cases.append(case)
    uid = "1.2.826.0.1.3680043.10.999.%d" % len(cases)
    for i, d in enumerate(items):
        d = copy.deepcopy(d)
        d.SeriesInstanceUID = uid
        d.SOPInstanceUID = uid + "." + str(i + 1)
        if edit:
            edit(i, d)
        d.save_as(os.path.join(out, case, "f%03d.dcm" % ((i * 7) % len(items))))
    print(case, uid)

series("missing", [d for i, d in enumerate(ds) if i != 7])
series("duplicate", ds[:9] + [ds[8]] + ds[9:])
def turn(i, d):
    if i == 4:
        d.ImageOrientationPatient = [1, 0, 0, 0, 0.9659258, -0.2588190]
series("orientation", ds, turn)
series("tilt", ds, lambda i, d: setattr(d, "GantryDetectorTilt", 15))
series("few", ds[:3])
series("mr", ds, lambda i, d: setattr(d, "Modality", "MR"))
series("truncated", ds)
series("cut_header", ds)
series("corrupt", ds)
series("mono1", ds, lambda i, d: setattr(d, "PhotometricInterpretation", "MONOCHROME1"))
def huge(i, d):
    d.Rows, d.Columns = 30000, 30000
series("huge", ds, huge)
with open(os.path.join(out, "README.txt"), "w") as f:
    f.write("scanner export notes\n")
open(os.path.join(out, "empty.dcm"), "w").close()
with open(os.path.join(out, "noise.bin"), "wb") as f:
    f.write(bytes((i * 37 + 5) % 256 for i in range(4000)))
EOF
check "bad cases written ($(tail -2 mkbad.out | tr '\n' ' '))" "[ \$(grep -c '^[a-z_0-9]* 1.2.826' mkbad.out) = 11 ]"
# a file cut inside its pixel data, and one cut inside its header
f=$(ls bad/truncated/*.dcm | sed -n 3p)
head -c $(( $(stat -c %s "$f") / 2 )) "$f" >t && mv t "$f"
g=$(ls bad/cut_header/*.dcm | sed -n 5p)
head -c 300 "$g" >t && mv t "$g"
# garbage in the middle of a file's compressed pixel data
c=$(ls bad/corrupt/*.dcm | sed -n 4p)
"$python" -c 'import sys; p=sys.argv[1]; b=bytearray(open(p,"rb").read()); n=len(b)
for i in range(n // 2, n // 2 + 200): b[i] = (i * 91) % 256
open(p, "wb").write(b)' "$c"
cp -r "$first" bad/good
uid() { grep "^$1 " mkbad.out | cut -d' ' -f2; }

"$med" --db b.db scan --store bad >bad_scan.out 2>err
check "scan bad: exit 3" "[ $? = 3 ]"
check "scan bad: the good series is listed as ok" "grep -q '	ok$' bad_scan.out"
check "missing slice named" "grep -q \"rejected: $(uid missing): .*missing slices: 1 absent\" err"
check "duplicate position named" "grep -q \"rejected: $(uid duplicate): .*duplicate slice position\" err"
check "mixed orientations named" "grep -q \"rejected: $(uid orientation): .*mixed orientations\" err"
check "gantry tilt named" "grep -q \"rejected: $(uid tilt): .*gantry tilt of 15 degrees\" err"
check "too few slices named" "grep -q \"rejected: $(uid few): .*too few slices: 3\" err"
check "non-CT series skipped and reported" "grep -q \"$(uid mr).*skipped: not CT (modality MR)\" bad_scan.out"
check "file cut in its header named, with the element that runs past its end" \
    "grep -Eq \"rejected: $g: element \\([0-9A-F]{4},[0-9A-F]{4}\\) declares [0-9]+ bytes where [0-9]+ remain: truncated or corrupt\" err"
check "file cut in its pixel data named as the series is scanned" \
    "grep -Eq \"rejected: $f: element \\([0-9A-F]{4},[0-9A-F]{4}\\) declares [0-9]+ bytes where [0-9]+ remain: truncated or corrupt\" err"
check "series with the cut file: a slice missing" "grep -q \"rejected: $(uid cut_header): .*missing slices: 1 absent\" err"
check "junk files are not errors" "! grep -q 'README.txt\\|noise.bin\\|empty.dcm' err"
check "a header claiming 30000x30000 pixels: rejected from its geometry before any pixel is read" \
    "grep -q \"rejected: $(uid huge): .*155125 x 155125 x 15 mm: larger than a body\" err"
check "one line per rejection ($(grep -c rejected err))" "[ \$(grep -c 'error: rejected' err) = 10 ]"
check "every rejection in input_errors" "[ \"\$(sql b.db 'select count(*) from input_errors')\" = 10 ]"
check "all series stored, unusable ones with their problem" "[ \"\$(sql b.db 'select count(*) from med_series')\" = 12 ] && [ \"\$(sql b.db \"select count(*) from med_series where usable = 0 and problems like '%duplicate%'\")\" = 1 ]"
check "run recorded as partial" "[ \"\$(sql b.db \"select status || n_ok || '/' || n_rejected from runs\")\" = partial4/10 ]"

"$med" --db b.db convert --store -o badnii bad >bad_conv.out 2>err
check "convert bad: exit 3" "[ $? = 3 ]"
check "file cut in its pixel data named" "grep -q \"rejected: $f: element (FFFE,E000) declares\" err"
check "a header claiming 30000x30000 pixels: rejected, nothing allocated" "grep -q \"rejected: $(uid huge): .*larger than a body\" err"
check "corrupt compressed pixel data named" "grep -q \"rejected: $(uid corrupt): $c: pixel data cannot be decoded\" err"
check "convert bad: the good series and the MONOCHROME1 copy are written" "[ \$(ls badnii | wc -l) = 2 ]"
"$med" --db b.db convert -o src.nii.gz src >/dev/null 2>&1
"$python" - src.nii.gz "badnii/$(uid mono1).nii.gz" <<'EOF' >mono1.out 2>&1
import gzip, sys
a, b = (gzip.open(p).read() for p in sys.argv[1:3])
print("same voxels" if a[352:] == b[352:] and len(a) == len(b) else "voxels differ")
EOF
check "MONOCHROME1 leaves the HU as they are ($(cat mono1.out))" "grep -q 'same voxels' mono1.out"
check "nothing stored for rejected series" "[ \"\$(sql b.db \"select count(*) from med_volumes where series_uid = '$(uid truncated)'\")\" = 0 ]"
"$med" --db b.db convert --gaps resample -o resampled --in bad "$(uid missing)" >res.out 2>err
rc=$?; check "--gaps resample: the missing slice is interpolated, the corrupt files beside it rejected by name ($(head -c 200 err))" "[ $rc = 3 ] && grep -q 'x16	.*resampled' res.out && grep -q 'rejected: bad/cut_header/' err"

# ---- a Series UID that is a path: the files written stay in their folder ------------------------------
"$python" - src hostile/in <<'EOF' >mkhostile.out 2>&1
import glob, os, sys
import pydicom
from pydicom import config
config.settings.writing_validation_mode = config.settings.reading_validation_mode = config.IGNORE
src, out = sys.argv[1], sys.argv[2]
os.makedirs(out)
for i, f in enumerate(sorted(glob.glob(os.path.join(src, "study_*", "*", "*.dcm")))):
    d = pydicom.dcmread(f)
    d.SeriesInstanceUID = "../../x"
    d.save_as(os.path.join(out, "f%03d.dcm" % i))
print("written", i + 1)
EOF
check "hostile series written ($(tail -1 mkhostile.out))" "grep -q 'written 16' mkhostile.out"
outside() { find . -newer hostile/stamp -type f | grep -v "^./hostile/out/$1/\|^./h\.db\|^./hostile\.out$\|^./err$"; }
mkdir -p hostile/out && touch hostile/stamp && sleep 1
"$med" --db h.db convert --store -o hostile/out/nii hostile/in >hostile.out 2>err
rc=$?; check "UID '../../x': converted ($(head -c 300 err))" "[ \$rc = 0 ] && grep -q '^\.\./\.\./x	' hostile.out"
check "UID '../../x': nothing written outside the output folder ($(outside nii | head -3 | tr '\n' ' '))" "[ -z \"\$(outside nii)\" ]"
check "UID '../../x': one volume in the folder, a plain name ($(ls -A hostile/out/nii | tr '\n' ' '))" \
    "[ \$(ls -A hostile/out/nii | wc -l) = 1 ] && ls hostile/out/nii | grep -Eq '^[A-Za-z0-9_-][A-Za-z0-9._-]*\.nii\.gz$'"
check "UID '../../x': the stored path is the file written" \
    "[ -s \"\$(sql h.db 'select path from med_volumes')\" ] && sql h.db 'select path from med_volumes' | grep -q '^hostile/out/nii/[^/]*$'"

# ---- geometry no CT has, and series too large for the memory budget: refused by name, nothing allocated --
"$med" -q --seed 5 phantom --out geo/far --n 1 --slices 30 >/dev/null || exit 1
"$python" - geo/far <<'PY' || exit 1
import glob, sys
import pydicom
files = sorted(glob.glob(sys.argv[1] + "/study_001/*/*.dcm"), key=lambda p: float(pydicom.dcmread(p).ImagePositionPatient[2]))
for i, p in enumerate(files):  # slices 49 mm apart: resampled to 1 mm, 30 slices would become 1400
    d = pydicom.dcmread(p); pos = list(d.ImagePositionPatient); pos[2] = i * 49.0; d.ImagePositionPatient = pos; d.save_as(p)
PY
/usr/bin/time -f %M -o far.rss "$med" --db geo.db detect -m "$src/data/samples/medical/detector.safetensors" geo/far >out 2>err
rc=$?
check "slices 49 mm apart: rejected by name, exit 3, under 300 MB ($(tail -c 200 err); $(cat far.rss) KB)" \
    "[ $rc = 3 ] && grep -q 'rejected: .*: slices 49.000 mm apart: not a CT series' err && [ \$(tail -1 far.rss) -lt 300000 ]"
"$med" -q --seed 6 phantom --out geo/ok --n 1 --slices 30 >/dev/null || exit 1
MOESUITE_MEMORY_MB=16 "$med" --db geo.db convert -o geo/nii geo/ok >out 2>err
rc=$?
check "a series above MOESUITE_MEMORY_MB: rejected, the need and the budget named ($(tail -c 200 err))" \
    "[ $rc = 3 ] && grep -Eq 'needs about [0-9]+ MiB to resample .* above the memory budget of 16 MiB' err && [ -z \"\$(ls geo/nii 2>/dev/null)\" ]"
"$med" --db geo.db convert -o geo/nii geo/ok >out 2>err
check "the same series under the default budget: converted" "[ $? = 0 ] && [ \$(ls geo/nii | wc -l) = 1 ]"

echo "medical_dicom_test: $passed passed, $failed failed"
[ "$failed" = 0 ]
