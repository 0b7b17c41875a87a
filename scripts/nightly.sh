#!/usr/bin/env bash
# nightly.sh: the cron entry point. Runs each program's nightly commands in turn over an input
# folder into one SQLite database, under a lock so that two runs never overlap, logging to a file,
# and prints a summary of the runs it made. Exits non-zero when any program failed.
#
# Usage: scripts/nightly.sh [--setup] [--input DIR] [--out DIR] [--db PATH] [--log FILE] [--metrics-dir DIR]
#   --setup        install missing packages and build first (scripts/build.sh)
#   --input DIR    input root with finance/, medical/, factory/ folders (default: data/samples)
#   --out DIR      folder for files the commands write: CSVs, pictures (default: ./moesuite-out)
#   --db PATH      results database (default: $MOESUITE_DB, else ./moesuite.db)
#   --log FILE     log file (default: ./moesuite-nightly.log); messages are also shown on stderr
#   --metrics-dir DIR  Prometheus textfile directory passed to every program
# Environment: MC_BIN, the folder holding the programs (default: build/apps).
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
input=$root/data/samples out=$PWD/moesuite-out db=${MOESUITE_DB:-$PWD/moesuite.db} log=$PWD/moesuite-nightly.log metrics=() metrics_dir= setup=0
while [ $# -gt 0 ]; do
    case $1 in
    --setup) setup=1 ;;
    --input) input=$2; shift ;;
    --out) out=$2; shift ;;
    --db) db=$2; shift ;;
    --log) log=$2; shift ;;
    --metrics-dir) metrics=(--metrics-dir "$2"); metrics_dir=$2; shift ;;
    -h | --help) sed -n '2,/^set -uo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "nightly.sh: unknown option '$1' (see 'nightly.sh --help')" >&2; exit 2 ;;
    esac
    shift
done
bin=${MC_BIN:-$root/build/apps}

if [ "$setup" = 1 ]; then
    "$root/scripts/build.sh" || { echo "nightly.sh: build failed" >&2; exit 1; }
fi

# Every folder the night writes to is checked before anything runs, so that a missing or read-only
# folder is reported as what it is rather than as a failure of each program. The output folder is
# created; the others belong to the operator (docs/operations.md).
refuse() { echo "nightly.sh: $*" >&2; exit 2; }
writable_dir() { # LABEL DIR
    [ -d "$2" ] || refuse "$1 folder $2 does not exist (create it first)"
    [ -w "$2" ] || refuse "$1 folder $2 is not writable by $(id -un)"
}
[ -d "$input" ] || refuse "input folder $input does not exist"
writable_dir "database" "$(dirname -- "$db")"
writable_dir "log" "$(dirname -- "$log")"
[ -z "$metrics_dir" ] || writable_dir "metrics" "$metrics_dir"
mkdir -p -- "$out" 2>/dev/null || refuse "cannot create the output folder $out"
writable_dir "output" "$out"

# One run at a time per database: the lock is held until this script exits.
exec 9>"$db.nightly.lock"
if ! flock -n 9; then
    echo "nightly.sh: another nightly run holds $db.nightly.lock" >&2
    exit 1
fi

say() { printf '%s %s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$*" | tee -a "$log" >&2; }

# The nightly commands of each program, one line each: PROGRAM ARGUMENTS..., where {in} stands for
# the input root and {out} for the output folder. A program with no line here has no nightly
# command in this version.
nightly_commands=(
    "moe-finance factors --store --new-only --output {out}/finance-factors.csv {in}/finance/prices"
    "moe-finance regimes --store --new-only --output {out}/finance-regimes.csv {in}/finance/prices"
    "moe-finance forecast --model {in}/finance/forecaster.safetensors --store --new-only --output {out}/finance-forecasts.csv {in}/finance/prices"
    "moe-finance run --output {out}/finance-positions.csv --charts {out}/finance-charts {in}/finance/prices"
    "moe-medical scan --store {in}/medical"
    "moe-medical convert --store --output {out}/medical-nifti {in}/medical"
    "moe-medical detect --store --model {in}/medical/detector.safetensors --clinical {in}/medical/clinical.csv --candidates-out {out}/medical-candidates.csv --images {out}/medical-findings {in}/medical"
    "moe-factory inspect --model {in}/factory/inspection/supervised.safetensors --heatmaps {out}/factory-heatmaps {in}/factory/inspection/images/class01/good {in}/factory/inspection/images/class01/defect {in}/factory/inspection/images/class02/good {in}/factory/inspection/images/class02/defect"
    "moe-factory maintain predict --sensors {in}/factory/maintenance/sensors.csv --model {in}/factory/maintenance/model.safetensors"
    "moe-factory tune propose --history {in}/factory/tuning/history.csv --bounds {in}/factory/tuning/bounds.csv --n 3"
)
started=$(date -u +%Y-%m-%dT%H:%M:%S.000Z)
failed=0
say "nightly start: input $input, database $db"
for program in moe-finance moe-medical moe-factory; do
    if ! version=$("$bin/$program" --version 2>>"$log" | head -1); then
        say "$program: cannot run $bin/$program"
        failed=1
        continue
    fi
    ran=0
    for line in "${nightly_commands[@]}"; do
        line=${line//\{in\}/$input}
        line=${line//\{out\}/$out}
        read -r -a words <<<"$line"
        [ "${words[0]}" = "$program" ] || continue
        ran=1
        say "$version: ${words[*]:1}"
        "$bin/$program" --db "$db" "${metrics[@]}" "${words[@]:1}" >>"$log" 2> >(tee -a "$log" >&2)
        code=$?
        case $code in
        0) ;;
        3) say "$program ${words[1]}: finished, some inputs rejected (see input_errors)" ;;
        *) say "$program ${words[1]}: failed with exit status $code"; failed=1 ;;
        esac
    done
    [ "$ran" = 1 ] || say "$version: no nightly command in this version"
done

if [ -f "$db" ]; then
    echo
    sqlite3 -header -column "file:$db?mode=ro" \
        "SELECT program, command, status, n_ok AS done, n_rejected AS rejected, finished_at
           FROM runs WHERE started_at >= '$started' ORDER BY started_at;"
    echo
    echo "Results: $db (sqlite3 $db; tables and views in docs/schema.md)"
fi
echo "Files: $out"

echo "Log: $log"
say "nightly end: $([ $failed = 0 ] && echo ok || echo FAILED)"
exit $failed
