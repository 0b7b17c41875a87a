#!/usr/bin/env bash
# factory_tune_test.sh: moe-factory tune end to end: bench (database rows, re-runs, plots, the
# surrogate optimiser against random search at equal budget, the saved PPO policy), simulate (the
# committed sample regenerates), propose (proposals within bounds and max_step over random
# histories, --json, --minimize, stored rows) and bad inputs (one error line naming the file, exit 3,
# nothing stored).
# Usage: factory_tune_test.sh SOURCE_DIR MOE_FACTORY SCRATCH_DIR PYTHON
set -u
src=$1 fab=$2 scratch=$3 python=$4
rm -rf "$scratch" && mkdir -p "$scratch" && cd "$scratch" || exit 1
export OMP_NUM_THREADS=1
passed=0 failed=0
check() { if eval "$2"; then passed=$((passed + 1)); else failed=$((failed + 1)); echo "FAIL: $1" >&2; fi; }
sql() { "$python" -c 'import sqlite3,sys; c=sqlite3.connect(sys.argv[1]); print("\n".join("|".join(map(str,r)) for r in c.execute(sys.argv[2])))' "$@"; }
samples=$src/data/samples/factory/tuning

# ---- usage ---------------------------------------------------------------------------------------------
"$fab" tune --help >out 2>err
code=$?
check "tune --help: exit 0 and lists the sub-commands" "[ $code = 0 ] && grep -q bench out && grep -q propose out && grep -q simulate out"
"$fab" tune --version >out 2>err
code=$?
check "tune --version: exit 0" "[ $code = 0 ] && grep -q '^moe-factory ' out"
"$fab" tune >out 2>err
code=$?
check "tune without a sub-command: exit 2" "[ $code = 2 ] && grep -q 'missing sub-command' err"
"$fab" tune frob >out 2>err
code=$?
check "unknown sub-command: exit 2" "[ $code = 2 ] && grep -q \"unknown sub-command 'frob'\" err"
"$fab" tune bench --help >out 2>err
code=$?
check "bench --help: exit 0 with defaults" "[ $code = 0 ] && grep -q -- '--budget B' out && grep -q 'default: 40' out"
"$fab" tune bench --process lathe >out 2>err
code=$?
check "bench --process lathe: exit 2" "[ $code = 2 ] && grep -q 'moulding, reactor or all' err"
"$fab" tune propose --help >out 2>err
code=$?
check "propose --help: exit 0, usage under the full sub-command" "[ $code = 0 ] && grep -q '^Usage: moe-factory tune propose --history H.csv --bounds B.csv' out"
"$fab" tune propose --history x.csv >out 2>err
code=$?
check "propose without --bounds: exit 2" "[ $code = 2 ] && grep -q 'needs --history and --bounds' err"
"$fab" tune propose --history x.csv --bounds y.csv --n 0 >out 2>err
code=$?
check "propose --n 0: exit 2" "[ $code = 2 ]"

# ---- bench: stationary study ----------------------------------------------------------------------------
"$fab" --db t.db --json tune bench --process moulding --study stationary --seeds 3 --budget 30 --plot st.png >out 2>err
code=$?
check "bench stationary: exit 0 ($(head -c 300 err))" "[ $code = 0 ]"
check "one JSON line per method" "[ \$(wc -l <out) = 5 ] && grep -q '\"method\":\"surrogate\"' out && grep -q '\"method\":\"propose\"' out"
check "learning-curve PNG written" "[ \"\$(head -c 8 st.png | od -An -c | tr -d ' ')\" = '211PNG\r\n032\n' ]"
check "15 bench rows (5 methods x 3 seeds)" "[ \"\$(sql t.db 'select count(*) from fab_tune_bench')\" = 15 ]"
check "450 curve rows" "[ \"\$(sql t.db 'select count(*) from fab_tune_curves')\" = 450 ]"
regret() { sql t.db "select regret from fab_tune_bench_summary where process='moulding' and study='stationary' and method='$1'"; }
r_sur=$(regret surrogate) r_rnd=$(regret random) r_fix=$(regret fixed)
check "surrogate beats random search at equal budget (regret $r_sur vs $r_rnd)" \
    "\"$python\" -c 'import sys; sys.exit(0 if float(sys.argv[1]) < float(sys.argv[2]) else 1)' $r_sur $r_rnd"
check "surrogate improves on the stale fixed recipe (regret $r_sur vs $r_fix)" \
    "\"$python\" -c 'import sys; sys.exit(0 if float(sys.argv[1]) < 0.7 * float(sys.argv[2]) else 1)' $r_sur $r_fix"
# the stored regret is the optimum minus the true yield of the recommended recipe at the last sample
check "regret = optimum - best at the last sample" "[ \"\$(sql t.db \"select count(*) from fab_tune_bench b join fab_tune_curves c using (process, study, method, seed, settings) where c.step = 30 and abs(b.regret - (c.optimum - c.best)) > 1e-12\")\" = 0 ]"

# ---- bench: drift study (small) --------------------------------------------------------------------------
"$fab" --db t.db tune bench --process reactor --study drift --seeds 1 --horizon 40 --budget 8 --ppo-steps 1024 \
    --plot-drift drift.png --save-policy policy.safetensors >out 2>err
    code=$?
check "bench drift: exit 0 ($(head -c 300 err))" "[ $code = 0 ]"
check "six methods reported" "[ \$(grep -c '^reactor *drift' out) = 6 ] && grep -q ' ppo ' out && grep -q ' propose ' out"
check "drift rows" "[ \"\$(sql t.db \"select count(*) from fab_tune_bench where study='drift'\")\" = 6 ]"
check "drift curves: 40 batches x 6 methods" "[ \"\$(sql t.db \"select count(*) from fab_tune_curves where study='drift'\")\" = 240 ]"
check "drift optimum is an upper bound" "[ \"\$(sql t.db \"select count(*) from fab_tune_curves where study='drift' and yield > optimum + 1e-9\")\" = 0 ]"
check "drift PNG written" "[ -s drift.png ]"
drift_sum=$(sql t.db "select group_concat(method || ' ' || mean_yield, ';') from fab_tune_bench where study='drift'")
"$fab" --db t.db tune bench --process reactor --study drift --seeds 1 --horizon 40 --budget 8 --ppo-steps 1024 >out2 2>err
code=$?
check "re-run: exit 0, no new rows" "[ $code = 0 ] && [ \"\$(sql t.db 'select count(*) from fab_tune_bench')\" = 21 ] && [ \"\$(sql t.db 'select count(*) from fab_tune_curves')\" = 690 ]"
check "re-run gives the same figures" "[ \"\$(sql t.db \"select group_concat(method || ' ' || mean_yield, ';') from fab_tune_bench where study='drift'\")\" = \"$drift_sum\" ]"
check "runs recorded as 'tune bench'" "[ \"\$(sql t.db \"select count(*) from runs where program='moe-factory' and command='tune bench' and status='ok'\")\" = 3 ] && [ \"\$(sql t.db 'select count(*) from runs')\" = 3 ]"
meta=$("$python" - policy.safetensors <<'EOF'
import json, struct, sys
b = open(sys.argv[1], 'rb').read()
n = struct.unpack('<Q', b[:8])[0]
h = json.loads(b[8:8 + n])
m = h['__metadata__']
print(len(json.loads(m['moesuite.obs_mean'])), m['moesuite.process'], h['log_std']['shape'][0])
EOF
)
check "policy file: observation normalisation in the metadata ($meta)" "[ \"$meta\" = '9 reactor 4' ]"

# ---- simulate: the committed sample regenerates -----------------------------------------------------------
"$fab" --seed 7 tune simulate --process moulding --batches 120 --bounds bounds.csv >history.csv 2>err
code=$?
check "simulate: exit 0" "[ $code = 0 ]"
check "the sample history regenerates" "cmp -s history.csv $samples/history.csv"
check "the sample bounds regenerate" "cmp -s bounds.csv $samples/bounds.csv"

# ---- propose ------------------------------------------------------------------------------------------
"$fab" --db p.db tune propose --history "$samples/history.csv" --bounds "$samples/bounds.csv" --n 4 >prop.csv 2>err
code=$?
check "propose: exit 0 ($(head -c 300 err))" "[ $code = 0 ]"
check "propose: header and 4 rows" "[ \$(wc -l <prop.csv) = 5 ] && [ \"\$(head -1 prop.csv)\" = melt_temp,inject_pressure,hold_time,cool_time,mould_temp ]"
check "4 proposals stored" "[ \"\$(sql p.db 'select count(*) from fab_tune_proposals')\" = 4 ]"
"$fab" --db p.db tune propose --history "$samples/history.csv" --bounds "$samples/bounds.csv" --n 4 >prop2.csv 2>err
check "re-run: same proposals, no new rows" "cmp -s prop.csv prop2.csv && [ \"\$(sql p.db 'select count(*) from fab_tune_proposals')\" = 4 ]"
"$fab" --db p.db --json tune propose --history "$samples/history.csv" --bounds "$samples/bounds.csv" --n 2 --minimize >prop.json 2>err
check "--json --minimize: two objects with prediction and uncertainty" \
    "[ \$(wc -l <prop.json) = 2 ] && grep -q '\"uncertainty\"' prop.json && grep -q '\"predicted\"' prop.json"
check "direction stored" "[ \"\$(sql p.db \"select count(*) from fab_tune_proposals where direction='minimize'\")\" = 2 ]"
check "runs recorded as 'tune propose'" "[ \"\$(sql p.db \"select count(*) from runs where program='moe-factory' and command='tune propose' and status='ok'\")\" = 3 ] && [ \"\$(sql p.db 'select count(*) from runs')\" = 3 ]"

# random histories and bounds: every proposal within the bounds and within max_step of the last batch
"$python" - "$fab" <<'EOF' >prop_check.txt 2>&1
import csv, random, subprocess, sys
fab = sys.argv[1]
random.seed(5)
bad = 0
for trial in range(8):
    d = random.randint(1, 5)
    names = ["p%d" % i for i in range(d)]
    lo = [random.uniform(-100, 100) for _ in names]
    hi = [l + random.choice([0, random.uniform(0.001, 50)]) for l in lo]
    step = [random.choice([0, random.uniform(0.0001, 10)]) for _ in names]
    with open("b%d.csv" % trial, "w") as f:
        f.write("max_step,name,max,min\n")  # columns in any order
        for n, l, h, s in zip(names, lo, hi, step):
            f.write("%r,%s,%r,%r\n" % (s, n, h, l))
    rows = random.randint(1, 30)
    with open("h%d.csv" % trial, "w") as f:
        f.write("timestamp,score," + ",".join(names) + "\n")
        for r in range(rows):
            x = [random.uniform(l - 0.2 * (h - l), h + 0.2 * (h - l)) for l, h in zip(lo, hi)]
            if r == rows - 1:
                x = [min(max(v, l - 0.9 * s), h + 0.9 * s) for v, l, h, s in zip(x, lo, hi, step)]
            f.write("%d,%r,%s\n" % (1000 + 60 * r, random.gauss(0, 1), ",".join("%r" % v for v in x)))
    cur = x
    out = subprocess.run([fab, "--db", "r.db", "tune", "propose", "--history", "h%d.csv" % trial, "--bounds",
                          "b%d.csv" % trial, "--objective", "score", "--n", "3"], capture_output=True, text=True)
    if out.returncode != 0:
        print("trial", trial, "exit", out.returncode, out.stderr); bad += 1; continue
    rd = list(csv.reader(out.stdout.splitlines()))
    assert rd[0] == names, rd[0]
    for row in rd[1:]:
        for v, l, h, s, c, n in zip(map(float, row), lo, hi, step, cur, names):
            if not (l <= v <= h and c - s <= v <= c + s):
                print("trial", trial, n, v, "outside", l, h, "or step", s, "from", c); bad += 1
print("bad", bad)
EOF
check "random histories: proposals within bounds and steps ($(tail -1 prop_check.txt))" "[ \"\$(tail -1 prop_check.txt)\" = 'bad 0' ]"

# ---- propose: inputs as an engineer keeps them -------------------------------------------------------------
hdr="timestamp,melt_temp,inject_pressure,hold_time,cool_time,mould_temp,quality"
"$fab" tune propose --help >out 2>err
check "propose --help gives --n's range" "grep -q 'recipes to propose, 1 to 100' out"
"$fab" --db e.db tune propose --history "$samples/history.csv" --bounds "$samples/bounds.csv" --maximize --minimize >out 2>err
code=$?
check "--maximize --minimize: exit 2" "[ $code = 2 ] && grep -q -- '--maximize and --minimize exclude each other' err"
"$fab" --db e.db tune propose --history "$samples/history.csv" --bounds "$samples/bounds.csv" --engine svm >out 2>err
code=$?
check "--engine svm: exit 2" "[ $code = 2 ] && grep -q -- '--engine expects gp or mlp' err"
"$fab" --db e.db tune propose --history "$samples/history.csv" --bounds "$samples/bounds.csv" --engine mlp --acquisition ucb >out 2>err
code=$?
check "--engine mlp --acquisition ucb: exit 2" "[ $code = 2 ]"
# pending batches: the last two logged without a quality yet (empty, NA)
{ cat "$samples/history.csv"; echo "2026-11-04T06:00:00Z,231.0,103.0,7.8,18.0,59.0,"; echo "2026-11-04T06:30:00Z,232.0,104.0,7.9,18.3,59.5,NA"; } >pending.csv
"$fab" --db e.db --json tune propose --history pending.csv --bounds "$samples/bounds.csv" --n 2 >pend.json 2>err
code=$?
check "pending batches accepted ($(head -c 200 err))" "[ $code = 0 ] && [ \$(grep -c '\"pending\":2' pend.json) = 2 ] && [ \$(grep -c '\"batches\":120' pend.json) = 2 ]"
check "pending: stored with the counts" "[ \"\$(sql e.db 'select count(*) from fab_tune_proposals where pending = 2 and measured = 120 and kind = \"model\"')\" = 2 ]"
check "pending: the trust region is around the last (pending) batch" "\"$python\" -c '
import json, sys
step = {\"melt_temp\": 2, \"inject_pressure\": 3, \"hold_time\": 0.25, \"cool_time\": 0.6, \"mould_temp\": 1.5}
last = {\"melt_temp\": 232.0, \"inject_pressure\": 104.0, \"hold_time\": 7.9, \"cool_time\": 18.3, \"mould_temp\": 59.5}
for line in open(\"pend.json\"):
    s = json.loads(line)[\"settings\"]
    assert all(abs(s[k] - last[k]) <= step[k] + 1e-9 for k in s), s
'"
# a row outside the bounds is used but warned, by line
{ head -3 "$samples/history.csv"; echo "2026-11-01T07:00:00Z,209.5,93.0,7.5,19.8,57.5,0.5"; tail -n +5 "$samples/history.csv"; } >outside.csv
"$fab" --db e.db tune propose --history outside.csv --bounds "$samples/bounds.csv" >out 2>err
code=$?
check "row outside the bounds: exit 0, warned by line ($(head -c 200 err))" "[ $code = 0 ] && grep -q 'outside.csv: line 4: melt_temp = 209.5 is outside its bounds \[210, 270\]' err"
# too little history: exploratory proposals, said to be so
{ echo "$hdr"; echo "2026-11-01T06:00:00Z,236.5,93.4,7.5,19.8,57.5,0.94"; } >one.csv
"$fab" --db e.db --json tune propose --history one.csv --bounds "$samples/bounds.csv" --n 3 >one.json 2>err
code=$?
check "one batch: exit 0, a warning that says exploratory" "[ $code = 0 ] && grep -q 'exploratory proposals, no model behind them: 1 measured batch for 5 parameters' err"
check "one batch: JSON kind exploratory, no prediction" "[ \$(grep -c '\"kind\":\"exploratory\",.*\"predicted\":null' one.json) = 3 ]"
check "one batch: stored as exploratory without a prediction" "[ \"\$(sql e.db 'select count(*) from fab_tune_proposals where kind = \"exploratory\" and predicted is null')\" = 3 ]"
{ echo "$hdr"; for i in 0 1 2 3 4 5 6 7; do echo "2026-11-01T0$i:00:00Z,23$i.5,93.4,7.5,19.8,57.5,0.9"; done; } >flat.csv
"$fab" --db e.db tune propose --history flat.csv --bounds "$samples/bounds.csv" >out 2>err
code=$?
check "constant objective: exploratory" "[ $code = 0 ] && grep -q 'the objective did not vary over the 8 measured batches' err"
# the same digits in the CSV and the JSON
"$fab" --db e.db --seed 4 tune propose --history "$samples/history.csv" --bounds "$samples/bounds.csv" --n 2 >digits.csv 2>err
"$fab" --db e.db --seed 4 --json tune propose --history "$samples/history.csv" --bounds "$samples/bounds.csv" --n 2 >digits.json 2>err
check "CSV and JSON print the same numbers" "\"$python\" -c '
import csv, json
rows = list(csv.reader(open(\"digits.csv\")))
js = [json.loads(l, parse_float=str) for l in open(\"digits.json\")]
assert len(rows) == 3 and len(js) == 2
for r, j in zip(rows[1:], js):
    assert r == [j[\"settings\"][k] for k in rows[0]], (r, j[\"settings\"])
    assert all(len(j[k].lstrip(\"-0.\").replace(\".\", \"\").rstrip(\"0\")) <= 8 for k in (\"predicted\", \"uncertainty\", \"expected_improvement\")), j
'"
"$fab" --db e.db --json tune propose --history "$samples/history.csv" --bounds "$samples/bounds.csv" --acquisition ucb >ucb.json 2>err
check "--acquisition ucb: the bound, no EI" "grep -q '\"acquisition\":\"ucb\".*\"expected_improvement\":null,\"confidence_bound\":[0-9]' ucb.json"

# ---- simulate: recipes in a closed loop, the optimum ---------------------------------------------------------
"$fab" tune simulate --process moulding --optimum >opt.csv 2>err
check "simulate --optimum: the best recipe and its quality" "[ \"\$(head -1 opt.csv)\" = melt_temp,inject_pressure,hold_time,cool_time,mould_temp,true_quality ] && \"$python\" -c 'import sys; v = float(open(\"opt.csv\").read().split()[1].split(\",\")[-1]); sys.exit(0 if 0.9 < v < 1 else 1)'"
printf 'mould_temp,melt_temp,inject_pressure,hold_time,cool_time\n57.5,236.5,93.4,7.5,19.8\n40,220,120,4,30\n' >recipes.csv
"$fab" --seed 3 tune simulate --stationary --recipes recipes.csv --truth >sim2.csv 2>err
head -2 recipes.csv >recipes1.csv
"$fab" --seed 3 tune simulate --stationary --recipes recipes1.csv --truth >sim1.csv 2>err
check "simulate --recipes: the recipes in order, the first batch measured alike in a longer file" \
    "[ \$(wc -l <sim2.csv) = 3 ] && grep -q ',236.5,93.4,7.5,19.8,57.5,' sim2.csv && grep -q ',220,120,4,30,40,' sim2.csv && [ \"\$(sed -n 2p sim1.csv)\" = \"\$(sed -n 2p sim2.csv)\" ]"
printf 'melt_temp,inject_pressure,hold_time,cool_time,mould_temp\n300,93.4,7.5,19.8,57.5\n' >recipes_bad.csv
"$fab" tune simulate --recipes recipes_bad.csv >out 2>err
code=$?
check "simulate --recipes outside the bounds: exit 1, named" "[ $code = 1 ] && grep -q 'recipes_bad.csv: line 2: melt_temp .300. is not a number within \[210, 270\]' err"

# ---- bad inputs: one line naming the file and the problem, exit 3, nothing stored ---------------------------
B=$samples/bounds.csv
hdr="timestamp,melt_temp,inject_pressure,hold_time,cool_time,mould_temp,quality"
row1="2026-11-01T06:00:00Z,236.5,93.4,7.5,19.8,57.5,0.94"
row2="2026-11-01T06:30:00Z,236.5,93.4,7.5,19.8,57.5,0.95"
mkdir bad
printf 'timestamp,melt_temp,inject_pressure,hold_time,cool_time,mould_temp\n%s\n' "${row1%,*}" >bad/no_objective.csv
printf 'timestamp,melt_temp,inject_pressure,hold_time,cool_time,quality\n2026-11-01T06:00:00Z,236.5,93.4,7.5,19.8,0.9\n' >bad/missing_param.csv
printf '%s,speed\n%s,3\n' "$hdr" "$row1" >bad/extra_param.csv
printf '%s\n%s\n2026-11-01T06:30:00Z,236.5,abc,7.5,19.8,57.5,0.95\n' "$hdr" "$row1" >bad/nan.csv
printf '%s\n%s\n%s\n' "$hdr" "$row2" "$row1" >bad/unsorted.csv
printf '%s\n%s\n2026-11-01T06:30:00Z,236.5,93.4,7.5,19.8,57.5,inf\n' "$hdr" "$row1" >bad/inf.csv
printf '%s\n%s\n%s\n' "$hdr" "$row1" "$row1" >bad/duplicate.csv
printf '%s\n' "$hdr" >bad/header_only.csv
printf '' >bad/empty.csv
printf '%s\n2026-13-01T06:00:00Z,236.5,93.4,7.5,19.8,57.5,0.94\n' "$hdr" >bad/bad_date.csv
printf '%s\n%s,1\n' "$hdr" "$row1" >bad/ragged.csv
head -c 2000 /dev/urandom >bad/binary.csv
printf '%s\n2026-11-01T06:00:00Z,200,93.4,7.5,19.8,57.5,0.94\n' "$hdr" >bad/far_outside.csv
for f in no_objective:"header has no 'quality' column" missing_param:"no column for parameter 'mould_temp'" \
         extra_param:"column 'speed' is not a parameter of the bounds" nan:"line 3: 'abc' in column 'inject_pressure' is not a number" \
         inf:"line 3: 'inf' in column 'quality' is not a finite number" unsorted:"line 3: timestamp '2026-11-01T06:00:00Z' before the previous row" duplicate:"line 3: duplicate timestamp" \
         header_only:"no batches logged" empty:"empty file" bad_date:"line 2: invalid timestamp" ragged:"line 2: 8 fields, the header has 7" \
         far_outside:"the current melt_temp (200) is more than max_step (2) outside its bounds"; do
    name=${f%%:*} want=${f#*:}
    "$fab" --db b.db tune propose --history bad/$name.csv --bounds "$B" >out 2>err
    code=$?
    check "bad/$name.csv: exit 3 and '$want' ($(head -c 200 err))" "[ $code = 3 ] && grep -q \"rejected: bad/$name.csv: .*$want\" err && [ \$(grep -vc 'is outside its bounds' err) = 1 ]"
done
"$fab" --db b.db tune propose --history bad/binary.csv --bounds "$B" >out 2>err
code=$?
check "binary history rejected ($(head -c 200 err))" "[ $code = 3 ] && grep -q 'rejected: bad/binary.csv' err"
printf 'name,min,max,max_step\nmelt_temp,270,210,2\n' >bad/min_max.csv
printf 'name,min,max,max_step\nmelt_temp,210,x,2\n' >bad/bounds_nan.csv
printf 'name,lower,max,max_step\nmelt_temp,210,270,2\n' >bad/bounds_header.csv
printf 'name,min,max,max_step\nmelt_temp,210,270,2\nmelt_temp,210,270,2\n' >bad/bounds_twice.csv
for f in min_max:"line 2: min > max for 'melt_temp'" bounds_nan:"line 2: max of 'melt_temp' is not a number" \
         bounds_header:"header has no 'min' column" bounds_twice:"line 3: parameter 'melt_temp' listed twice"; do
    name=${f%%:*} want=${f#*:}
    "$fab" --db b.db tune propose --history "$samples/history.csv" --bounds bad/$name.csv >out 2>err
    code=$?
    check "bad/$name.csv: exit 3 and '$want' ($(head -c 200 err))" "[ $code = 3 ] && grep -q \"rejected: bad/$name.csv: .*$want\" err"
done
"$fab" --db b.db tune propose --history "$samples/history.csv" --bounds "$B" --objective melt_temp >out 2>err
code=$?
check "objective that is a parameter: exit 3" "[ $code = 3 ] && grep -q \"the objective 'melt_temp' is also a parameter\" err"
"$fab" --db b.db tune propose --history nowhere.csv --bounds "$B" >out 2>err
code=$?
check "missing history: exit 3, named" "[ $code = 3 ] && grep -q 'rejected: nowhere.csv: cannot open' err"
"$fab" --db b.db tune propose --history "$samples/history.csv" --bounds nobounds.csv >out 2>err
code=$?
check "missing bounds: exit 3, named" "[ $code = 3 ] && grep -q 'rejected: nobounds.csv: cannot open' err && [ \$(wc -l <err) = 1 ]"
"$fab" --db b.db tune propose --history nowhere.csv --bounds nobounds.csv >out 2>err
code=$?
check "missing history and bounds: exit 3, both named" "[ $code = 3 ] && grep -q 'rejected: nobounds.csv: cannot open' err && grep -q 'rejected: nowhere.csv: cannot open' err"
check "every rejection in input_errors" "[ \"\$(sql b.db 'select count(*) from input_errors')\" = 22 ]"
check "nothing stored from rejected inputs" "[ \"\$(sql b.db 'select count(*) from fab_tune_proposals')\" = 0 ]"

echo "factory_tune_cli: $passed passed, $failed failed"
[ $failed = 0 ]
