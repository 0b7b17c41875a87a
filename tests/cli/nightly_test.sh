#!/usr/bin/env bash
# nightly_test.sh: the cron entry point: a run over the samples, the lock against overlapping
# runs, a non-zero exit when a program cannot run, and missing folders refused up front by name.
# Usage: nightly_test.sh SOURCE_DIR PROGRAM_DIR SCRATCH_DIR
set -u
src=$1 bin=$2 scratch=$3
rm -rf "$scratch" && mkdir -p "$scratch" && cd "$scratch" || exit 1
passed=0 failed=0
check() { if eval "$2"; then passed=$((passed + 1)); else failed=$((failed + 1)); echo "FAIL: $1" >&2; fi; }

MC_BIN=$bin "$src/scripts/nightly.sh" --db n.db --log n.log >out 2>err
check "nightly over the samples exits 0" "[ $? = 0 ]"
for p in moe-finance moe-medical moe-factory; do
    check "log names $p and its version" "grep -q \"$p [0-9.]*: \" n.log"
done
check "log has start and end" "grep -q 'nightly start' n.log && grep -q 'nightly end: ok' n.log"
check "output says where the log is" "grep -q '^Log: .*n.log' out"
check "the sample CT series recorded and converted" "[ \"\$(sqlite3 n.db 'select count(*) from med_series')\" = 3 ] && [ \$(ls moesuite-out/medical-nifti/*.nii.gz | wc -l) = 3 ]"
check "sample images inspected, each with a heatmap" "[ \"\$(sqlite3 n.db 'select count(*) from fab_inspections')\" -ge 8 ] && [ \$(ls moesuite-out/factory-heatmaps/*.png | wc -l) -ge 8 ]"
check "the sample CT series searched for nodules: candidates CSV for all three, a montage each" "[ \"\$(tail -n +2 moesuite-out/medical-candidates.csv | cut -d, -f1 | sort -u | wc -l)\" = 3 ] && [ \$(ls moesuite-out/medical-findings/ | grep -vc _) = 3 ]"
check "maintenance predictions stored, one per sample machine" "[ \"\$(sqlite3 n.db 'select count(distinct machine_id) from fab_maint_predictions')\" -ge 5 ]"
check "three recipes proposed" "[ \"\$(sqlite3 n.db 'select count(*) from fab_tune_proposals')\" = 3 ]"
check "tomorrow's positions stored, one per sample symbol" "[ \"\$(sqlite3 n.db 'select count(*) from fin_latest_positions')\" = 3 ]"

exec 8>n.db.nightly.lock && flock -n 8
MC_BIN=$bin "$src/scripts/nightly.sh" --db n.db --log n.log >out 2>err
check "a second run while the lock is held exits 1" "[ $? = 1 ]"
check "it says who holds the lock" "grep -q 'another nightly run holds' err"
exec 8>&-

exec 8>env.db.nightly.lock && flock -n 8
MOESUITE_DB=$scratch/env.db MC_BIN=$bin "$src/scripts/nightly.sh" --log n.log >out 2>err
check "MOESUITE_DB names the database when --db is not given" "[ $? = 1 ] && grep -q 'holds $scratch/env.db.nightly.lock' err"
exec 8>&-

for opt in "--db $scratch/missing/m.db:database" "--log $scratch/missing/n.log:log" "--metrics-dir $scratch/missing:metrics" \
    "--input $scratch/missing:input"; do
    # shellcheck disable=SC2086
    MC_BIN=$bin "$src/scripts/nightly.sh" --db n.db --log n.log ${opt%%:*} >out 2>err
    check "${opt%%:*}: refused with exit 2 before anything runs" "[ $? = 2 ] && [ ! -e $scratch/missing ]"
    check "${opt%%:*}: the message names the ${opt##*:} folder and says it does not exist" \
        "grep -q '${opt##*:} folder $scratch/missing.* does not exist' err"
done
check "nothing was logged by the refused runs" "[ \"\$(grep -c 'nightly start' n.log)\" = 1 ]"

mkdir -p partial && ln -sf "$bin/moe-finance" partial/ && ln -sf "$bin/moe-factory" partial/
MC_BIN=$scratch/partial "$src/scripts/nightly.sh" --db n.db --log n.log >out 2>err
check "a program that cannot run makes the night fail" "[ $? = 1 ]"
check "the failing program is named" "grep -q 'moe-medical: cannot run' n.log"
check "the other programs still ran" "grep -q 'moe-factory [0-9.]*: ' err"

"$src/scripts/nightly.sh" --bogus >out 2>err
check "unknown option exits 2" "[ $? = 2 ]"
"$src/scripts/nightly.sh" --help >out 2>err
check "--help exits 0 and shows usage" "[ $? = 0 ] && grep -q '^Usage: scripts/nightly.sh' out"

echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
