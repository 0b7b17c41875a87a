#!/usr/bin/env bash
# factory_maintain_test.sh: `moe-factory maintain` end to end: a generated fleet (deterministic per
# seed), training (deterministic model file) with its alarm goal (the default precision goal met
# and recorded, a cost goal, an unreachable precision goal warned about with its shortfall), a
# held-out fleet from seeds never used in training judged against the one-sensor baseline with
# bounded assertions, predictions in the database without duplicates on re-runs and with a RUL
# near the cap reported as censored, the sample model on the sample log, and bad inputs each
# named with its line while the batch goes on.
# Usage: factory_maintain_test.sh SOURCE_DIR MOE_FACTORY SCRATCH_DIR PYTHON
set -u
src=$1 fab=$2 scratch=$3 python=$4
rm -rf "$scratch" && mkdir -p "$scratch" && cd "$scratch" || exit 1
passed=0 failed=0
check() { if eval "$2"; then passed=$((passed + 1)); else failed=$((failed + 1)); echo "FAIL: $1" >&2; fi; }
sql() { "$python" -c 'import sqlite3,sys; c=sqlite3.connect(sys.argv[1]); print("\n".join("|".join(map(str,r)) for r in c.execute(sys.argv[2])))' "$@"; }
# jq-like: the value of a Python expression over the JSON object j read from a file
js() { "$python" -c 'import json,sys; j=json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' "$@"; }
samples=$src/data/samples/factory/maintenance

# ---- help and usage ----------------------------------------------------------------------------------
"$fab" maintain --help >out 2>err
check "maintain --help: exit 0 and lists the sub-commands" "[ $? = 0 ] && grep -q 'predict' out && grep -q 'eval' out"
for sub in synth train predict eval; do
    "$fab" maintain $sub --help >out 2>err
    check "maintain $sub --help: exit 0 with its usage" "[ $? = 0 ] && grep -q 'Usage: moe-factory maintain $sub' out"
done
"$fab" maintain fix >out 2>err
check "unknown sub-command: exit 2" "[ $? = 2 ] && grep -q \"unknown sub-command 'fix'\" err"
"$fab" maintain train --sensors x.csv >out 2>err
check "train without --failures and -o: exit 2" "[ $? = 2 ]"

# ---- the generator: deterministic per seed -----------------------------------------------------------
"$fab" --json maintain synth --out fleet --machines 100 --seed 7 >synth.json 2>err
rc=$?; check "synth: exit 0 ($(head -c 200 err))" "[ $rc = 0 ]"
"$fab" maintain synth --out fleet2 --machines 100 --seed 7 >/dev/null 2>&1
check "synth: same seed, same bytes" "cmp -s fleet/sensors.csv fleet2/sensors.csv && cmp -s fleet/failures.csv fleet2/failures.csv"
"$fab" maintain synth --out heldout --machines 60 --seed 90001 >/dev/null 2>&1
check "synth: another seed, another fleet" "! cmp -s fleet/sensors.csv heldout/sensors.csv"
check "synth: header with settings, sensors and a vibration channel" \
    "[ \"\$(head -1 fleet/sensors.csv)\" = machine_id,timestamp,setting_load,setting_speed,temp,pressure,vib,current ]"
check "synth: every failure mode present" "[ \$(js synth.json 'min(j[\"modes\"].values())') -ge 5 ]"
check "synth: failures file lists the failed machines" \
    "[ \$((\$(wc -l <fleet/failures.csv) - 1)) = \$(js synth.json 'j[\"failed\"]') ]"
gaps=$(awk -F, 'NR>1 && $1==p {split($2,a,/[T:Z]/); split(q,b,/[T:Z]/); d=(a[2]-b[2])*60+(a[3]-b[3]); if (d<0) d+=1440; if (d>120) g++} {p=$1; q=$2} END{print g+0}' fleet/sensors.csv)
check "synth: gaps of more than two hours occur ($gaps)" "[ $gaps -gt 20 ]"
check "synth: missing readings occur" "grep -q ',,' fleet/sensors.csv"

# ---- training: deterministic ---------------------------------------------------------------------------
"$fab" --db m.db --json maintain train --sensors fleet/sensors.csv --failures fleet/failures.csv -o model.safetensors \
    --seed 3 >train.json 2>err
rc=$?; check "train: exit 0 ($(head -c 300 err))" "[ $rc = 0 ]"
check "train: three conditions, 20 features" "[ \$(js train.json 'j[\"conditions\"]') = 3 ] && [ \$(js train.json 'j[\"features\"]') = 20 ]"
check "train: the held-out alarm warns a horizon ahead" "[ \$(js train.json 'j[\"val_lead_ok\"]') = True ]"
check "train: the default goal, met on the held-out machines" \
    "[ \"\$(js train.json 'j[\"alarm_goal\"], j[\"goal_met\"], j[\"goal_shortfall\"], j[\"val_precision\"] >= 0.85')\" = \"('precision:0.85', True, 0.0, True)\" ]"
check "train: held-out precision and recall from the counts" \
    "[ \$(js train.json 'abs(j[\"val_precision\"] - j[\"val_detected\"] / (j[\"val_detected\"] + j[\"val_false_alarms\"])) < 1e-12 and abs(j[\"val_recall\"] - j[\"val_detected\"] / j[\"val_failures\"]) < 1e-12 and j[\"val_lead_median_h\"] > 0') = True ]"
db_goal=$(sql m.db "select alarm_goal, goal_met, printf('%.6f|%.6f|%.3f', val_precision, val_recall, val_lead_median_h) from fab_maint_models where path = 'model.safetensors'")
check "train: goal and held-out figures stored ($db_goal)" \
    "[ \"$db_goal\" = \"\$(js train.json '\"precision:0.85|1|%.6f|%.6f|%.3f\" % (j[\"val_precision\"], j[\"val_recall\"], j[\"val_lead_median_h\"])')\" ]"
"$fab" --db m.db maintain train --sensors fleet/sensors.csv --failures fleet/failures.csv -o model2.safetensors \
    --seed 3 >/dev/null 2>&1
check "train: same data and seed, same model file" "cmp -s model.safetensors model2.safetensors"
check "train: model rows recorded" "[ \"\$(sql m.db 'select count(*) from fab_maint_models')\" = 2 ]"
# the file is plain safetensors: header length, JSON with the metadata, tensors tiling the data buffer
st_ok=$("$python" -c '
import json, struct, sys
b = open(sys.argv[1], "rb").read()
n = struct.unpack("<Q", b[:8])[0]
h = json.loads(b[8:8 + n])
meta = json.loads(h.pop("__metadata__")["fab.maintain"])
end = max(t["data_offsets"][1] for t in h.values())
print(meta["horizon"] == 72 and meta["target_horizon"] == 72 and 0 < meta["threshold"] < 1 and len(meta["mean"]) == 20 and 8 + n + end == len(b)
      and meta["alarm"]["goal"] == "precision:0.85" and meta["alarm"]["precision"] >= 0.85)
' model.safetensors)
check "train: the model file is readable safetensors with its metadata" "[ \"$st_ok\" = True ]"

# ---- alarm goals: cost, an unreachable precision, bad goals ------------------------------------------------
"$fab" --db m.db --json maintain train --sensors fleet/sensors.csv --failures fleet/failures.csv -o cost.safetensors \
    --seed 3 --alarm-goal cost:20 >cost.json 2>err
rc=$?; check "train --alarm-goal cost:20: exit 0 ($(head -c 300 err))" "[ $rc = 0 ]"
check "train --alarm-goal cost:20: goal recorded, nothing short" \
    "[ \"\$(js cost.json 'j[\"alarm_goal\"], j[\"goal_met\"], j[\"goal_shortfall\"]')\" = \"('cost:20', True, 0.0)\" ]"
# every other failure withheld: those machines wear out with no failure row, so their alarms count
# as false and no threshold can reach precision 0.95
(head -1 fleet/failures.csv; tail -n +2 fleet/failures.csv | awk 'NR % 2 == 0') >half.csv
"$fab" --db m.db --json maintain train --sensors fleet/sensors.csv --failures half.csv -o half.safetensors \
    --seed 3 --alarm-goal precision:0.95 >half.json 2>err
rc=$?; check "train, unreachable goal: exit 0 with the model ($(head -c 300 err))" "[ $rc = 0 ] && [ -s half.safetensors ]"
check "train, unreachable goal: a warning says by how much" \
    "grep -q '\"level\":\"warning\".*half.safetensors: no alarm threshold reaches precision:0.95 on the 25 held-out machines: the best precision is' err"
check "train, unreachable goal: not met, shortfall = 0.95 - held-out precision > 0" \
    "[ \$(js half.json 'not j[\"goal_met\"] and abs(j[\"goal_shortfall\"] - (0.95 - j[\"val_precision\"])) < 1e-12 and j[\"goal_shortfall\"] > 0') = True ]"
check "train, unreachable goal: stored as not met with its shortfall" \
    "[ \"\$(sql m.db \"select goal_met, goal_shortfall > 0 from fab_maint_models where path = 'half.safetensors'\")\" = '0|1' ]"
# a longer training target: recorded in the file and the output; shorter than the horizon is refused
"$fab" --db m.db --json maintain train --sensors fleet/sensors.csv --failures fleet/failures.csv -o wide.safetensors \
    --seed 3 --target-horizon 144 >wide.json 2>err
rc=$?; check "train --target-horizon 144: exit 0 ($(head -c 300 err))" "[ $rc = 0 ]"
check "train --target-horizon 144: recorded beside the 72 h horizon" \
    "[ \"\$(js wide.json 'j[\"horizon_h\"], j[\"target_horizon_h\"]')\" = '(72.0, 144.0)' ]"
"$fab" --db m.db maintain train --sensors fleet/sensors.csv --failures fleet/failures.csv -o g.safetensors \
    --target-horizon 48 >out 2>err
check "train --target-horizon 48: exit 2 naming the option" "[ $? = 2 ] && grep -q -- '--target-horizon' err && [ ! -e g.safetensors ]"
for g in precision:1.2 recall:0.9 cost:0 precision; do
    "$fab" --db m.db maintain train --sensors fleet/sensors.csv --failures fleet/failures.csv -o g.safetensors --alarm-goal $g >out 2>err
    check "train --alarm-goal $g: exit 2 naming the option" "[ $? = 2 ] && grep -q -- '--alarm-goal' err && [ ! -e g.safetensors ]"
done

# ---- the held-out fleet: the model against the one-sensor baseline ---------------------------------------
"$fab" --db m.db --json maintain eval --sensors heldout/sensors.csv --failures heldout/failures.csv \
    --model model.safetensors --plot leads.png >eval.json 2>err
rc=$?; check "eval: exit 0 ($(head -c 300 err))" "[ $rc = 0 ]"
echo "held-out fleet: $(js eval.json '{k: j["moe"][k] for k in ("precision", "recall", "lead_h", "false_alarms_per_machine_month", "downtime_saved_vs_run_to_failure")}')" >&2
echo "baseline:       $(js eval.json '{k: j["one_sensor"][k] for k in ("precision", "recall", "lead_h", "false_alarms_per_machine_month", "downtime_saved_vs_run_to_failure")}')" >&2
echo "RUL RMSE $(js eval.json 'j["rul_rmse_h"]') h, C-MAPSS score $(js eval.json 'j["cmapss_score"]')" >&2
check "eval: recall >= 0.9" "[ \$(js eval.json 'j[\"moe\"][\"recall\"] >= 0.9') = True ]"
check "eval: precision >= 0.85" "[ \$(js eval.json 'j[\"moe\"][\"precision\"] >= 0.85') = True ]"
f1() { echo "2 * j['$1']['precision'] * j['$1']['recall'] / max(1e-9, j['$1']['precision'] + j['$1']['recall'])"; }
check "eval: alarm F1 above the baseline's by 0.2" "[ \$(js eval.json \"\$(f1 moe) > \$(f1 one_sensor) + 0.2\") = True ]"
check "eval: median lead time >= 60 h" "[ \$(js eval.json 'j[\"moe\"][\"lead_h\"][\"median\"] >= 60') = True ]"
check "eval: more failures warned 72 h ahead than by the baseline" \
    "[ \$(js eval.json 'j[\"moe\"][\"warned_ahead\"] > j[\"one_sensor\"][\"warned_ahead\"] + 0.1') = True ]"
check "eval: fewer than 0.3 false alarms per machine-month" \
    "[ \$(js eval.json 'j[\"moe\"][\"false_alarms_per_machine_month\"] < 0.3') = True ]"
check "eval: service at alarm saves at least 40% of run-to-failure downtime, more than the baseline" \
    "[ \$(js eval.json 'j[\"moe\"][\"downtime_saved_vs_run_to_failure\"] >= 0.4 and j[\"moe\"][\"downtime_saved_vs_run_to_failure\"] > j[\"one_sensor\"][\"downtime_saved_vs_run_to_failure\"]') = True ]"
check "eval: RUL RMSE under 40 h (cap 200 h)" "[ \$(js eval.json '0 < j[\"rul_rmse_h\"] < 40') = True ]"
check "eval: the C-MAPSS score is positive and finite" "[ \$(js eval.json '0 < j[\"cmapss_score\"] < 1e300') = True ]"
check "eval: the lead-time chart is a PNG" "[ \"\$(head -c 8 leads.png | od -An -tx1 | tr -d ' ')\" = 89504e470d0a1a0a ]"
check "eval: two rows (model and baseline)" "[ \"\$(sql m.db 'select count(*) from fab_maint_evals')\" = 2 ]"
db_recall=$(sql m.db "select printf('%.6f', recall) from fab_maint_evals where method='moe'")
check "eval: stored recall equals the printed one" "[ \"$db_recall\" = \"\$(js eval.json '\"%.6f\" % j[\"moe\"][\"recall\"]')\" ]"
"$fab" --db m.db maintain eval --sensors heldout/sensors.csv --failures heldout/failures.csv --model model.safetensors >/dev/null 2>&1
check "eval: re-run adds no rows" "[ \"\$(sql m.db 'select count(*) from fab_maint_evals')\" = 2 ]"

# ---- predict: one row per machine, no duplicates on re-runs ----------------------------------------------
"$fab" --db m.db --json maintain predict --sensors heldout/sensors.csv --model model.safetensors >pred.jsonl 2>err
rc=$?; check "predict: exit 0 ($(head -c 300 err))" "[ $rc = 0 ]"
check "predict: one JSON line per machine" "[ \$(wc -l <pred.jsonl) = 60 ]"
check "predict: fields" "head -1 pred.jsonl | grep -q '\"rul_h\"' && head -1 pred.jsonl | grep -q '\"drivers\"' && head -1 pred.jsonl | grep -q '\"alarm\"'"
check "predict: the probability's target horizon" "[ \$(head -1 pred.jsonl | $python -c 'import json, sys; j = json.load(sys.stdin); print(j[\"horizon_h\"], j[\"target_horizon_h\"])' | tr ' ' /) = 72.0/72.0 ]"
rows=$(sql m.db "select count(*) from fab_maint_predictions")
check "predict: 60 rows stored ($rows)" "[ $rows = 60 ]"
"$fab" --db m.db maintain predict --sensors heldout/sensors.csv --model model.safetensors >/dev/null 2>&1
check "predict: re-run adds no rows" "[ \"\$(sql m.db 'select count(*) from fab_maint_predictions')\" = 60 ]"
# a RUL within 5% of the 200 h cap is censored: "> 200 h" in text, rul_censored in JSON and database
cens=$("$python" -c '
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
ok = all(r["rul_censored"] == (r["rul_h"] >= 190) and r["rul_cap_h"] == 200 for r in rows)
print(ok, sum(r["rul_censored"] for r in rows), ",".join(r["machine_id"] for r in rows if r["rul_censored"]))
' pred.jsonl)
read -r cens_ok n_cens cens_ids <<<"$cens"
check "predict: rul_censored exactly where RUL >= 190 h ($n_cens machines)" "[ $cens_ok = True ] && [ $n_cens -ge 3 ]"
check "predict: stored rul_censored agrees" \
    "[ \"\$(sql m.db 'select count(*) from fab_maint_predictions where rul_censored = 1')\" = $n_cens ]"
"$fab" --db m.db maintain predict --sensors heldout/sensors.csv --model model.safetensors >pred.txt 2>err
first=${cens_ids%%,*}
check "predict: a censored RUL prints as '> 200 h' ($first)" "grep -q \"^$first	.*	RUL > 200 h	\" pred.txt"
check "predict: '> 200 h' on censored machines only" "[ \$(grep -c 'RUL > 200 h' pred.txt) = $n_cens ]"
check "predict: machines near failure print a plain RUL" "grep -Eq '	RUL [0-9]+ h	p' pred.txt"
# machines whose log ends at a failure are close to it: most should be in alarm, with a small RUL
late=$(sql m.db "select count(*) from fab_maint_latest p where p.machine_id in ($(tail -n +2 heldout/failures.csv | cut -d, -f1 | sed "s/.*/'&'/" | paste -sd,)) and alarm = 1 and rul_h < 72")
nfail=$(($(wc -l <heldout/failures.csv) - 1))
check "predict: machines at their failure are in alarm with RUL < 72 h ($late of $nfail)" "[ $late -ge $((nfail * 9 / 10)) ]"
# the drivers of an alarm on an overheating machine name temp or current first
top=$(sql m.db "select json_extract(drivers, '\$[0].sensor') from fab_maint_predictions where alarm = 1" | sort | uniq -c | sort -rn | head -1)
check "predict: drivers name sensors ($top)" "echo '$top' | grep -Eq 'temp|pressure|vib|current'"

# ---- the sample model on the sample log (what the nightly job runs) ---------------------------------------
"$fab" --db s.db maintain predict --sensors "$samples/sensors.csv" --model "$samples/model.safetensors" >out 2>err
rc=$?; check "samples: predict exit 0 ($(head -c 300 err))" "[ $rc = 0 ]"
"$fab" --db s.db --json maintain eval --sensors "$samples/sensors.csv" --failures "$samples/failures.csv" \
    --model "$samples/model.safetensors" >seval.json 2>err
rc=$?; check "samples: eval exit 0 ($(head -c 300 err))" "[ $rc = 0 ]"
check "samples: recall >= 0.8" "[ \$(js seval.json 'j[\"moe\"][\"recall\"] >= 0.8') = True ]"

# ---- bad inputs: each named with its line; the batch goes on ------------------------------------------------
mkdir bad
head -400 heldout/sensors.csv >good.csv
hdr=machine_id,timestamp,setting_load,setting_speed,temp,pressure,vib,current
printf '%s\nA,2026-01-01T05:00:00Z,0.4,1.2,60,6,1.2,26\nA,2026-01-01T04:00:00Z,0.4,1.2,60,6,1.2,26\n' $hdr >bad/unsorted.csv
printf '%s\nA,2026-01-01T05:00:00Z,0.4,1.2,60,6,1.2,26\nA,2026-01-01T05:00:00Z,0.4,1.2,60,6,1.2,26\n' $hdr >bad/duplicate.csv
printf '%s\nA,2026-01-01T05:00:00Z,0.4,1.2,hot,6,1.2,26\n' $hdr >bad/text.csv
printf '%s\nA,2026-01-01T05:00:00Z,0.4,1.2,60,6\n' $hdr >bad/short.csv
printf 'machine_id,timestamp,setting_load,setting_speed,temp,pressure,vib\nA,2026-01-01T05:00:00Z,0.4,1.2,60,6,1.2\n' >bad/columns.csv
printf '' >bad/empty.csv
head -c 3000 /dev/urandom >bad/binary.csv
"$fab" --db m.db maintain predict --sensors bad --model model.safetensors >out 2>err
check "bad logs only: exit 3" "[ $? = 3 ]"
cp good.csv bad/
"$fab" --db b.db maintain predict --sensors bad --model model.safetensors >out 2>err
check "bad logs with a good one: exit 3" "[ $? = 3 ]"
check "bad logs with a good one: the good one is done" "[ \"\$(sql b.db 'select count(*) from fab_maint_predictions')\" -ge 1 ]"
for f in unsorted:'line 3: machine A: timestamp 2026-01-01T04:00:00Z is before the previous one' \
         duplicate:'line 3: machine A: timestamp 2026-01-01T05:00:00Z duplicates the previous one' \
         text:"line 2: temp value 'hot' is not a number" short:"line 2: fewer columns than the header's 8" \
         columns:"columns differ from the model's" empty:'empty file'; do
    name=${f%%:*} want=${f#*:}
    check "bad/$name.csv rejected: $want" "grep -q \"rejected: bad/$name.csv: $want\" err"
done
check "binary log rejected" "grep -q 'rejected: bad/binary.csv' err"
check "every rejection in input_errors" "[ \"\$(sql b.db 'select count(*) from input_errors')\" = 7 ]"
check "nothing of a rejected log stored" "[ \"\$(sql b.db \"select count(*) from fab_maint_predictions where machine_id = 'A'\")\" = 0 ]"
printf 'machine_id,failure_time\nM0001,2026-03-01T00:00:00Z\nX99,2026-03-01T00:00:00Z\n' >unknown.csv
"$fab" --db m.db maintain eval --sensors heldout/sensors.csv --failures unknown.csv --model model.safetensors >out 2>err
check "eval with an unknown machine in the failures: exit 1, named with its line" \
    "[ $? = 1 ] && grep -q \"rejected: unknown.csv: line 3: unknown machine 'X99'\" err"
head -c 5000 model.safetensors >truncated.safetensors
"$fab" --db m.db maintain predict --sensors good.csv --model truncated.safetensors >out 2>err
check "truncated model: exit 1 naming the file" "[ $? = 1 ] && grep -q 'truncated.safetensors' err"
"$fab" --db m.db maintain train --sensors bad/unsorted.csv --failures fleet/failures.csv -o x.safetensors >out 2>err
check "train on a bad log: exit 1 naming the line" "[ $? = 1 ] && grep -q 'rejected: bad/unsorted.csv: line 3' err && [ ! -e x.safetensors ]"

printf 'machine_id,failure_time\nM0003,2026-03-01T00:00:00Z\n' >one_failure.csv
"$fab" --db m.db maintain train --sensors heldout/sensors.csv --failures one_failure.csv -o y.safetensors >out 2>err
check "train with one failure: exit 1, says why" "[ $? = 1 ] && grep -q 'one_failure.csv: 1 failure: at least 2' err && [ ! -e y.safetensors ]"
"$fab" --db m.db maintain train --sensors fleet/sensors.csv --failures fleet/failures.csv -o z.safetensors --sustain 9 >out 2>err
check "train --sustain out of range: exit 2" "[ $? = 2 ]"

echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
