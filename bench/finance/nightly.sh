#!/usr/bin/env bash
# nightly.sh: what moe-finance's nightly commands cost as the data grows by a day. 20 generated
# symbols x 5000 days (make_prices.py) go through the moe-finance commands of scripts/nightly.sh
# (factors, forecast, regimes, run) into a fresh
# database; one new bar is appended to every file and the commands run again. Prints one JSON
# object: both times, their ratio, the database's bytes per symbol-day, and each command's times.
# Usage: bench/finance/nightly.sh [BUILD_DIR] [COMMAND...]
#   COMMAND: further moe-finance command lines run each night after those, with {prices} for the
#   price folder and {out} for the output folder
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
build=${1:-$here/../../build}
shift || true
fin=$build/apps/moe-finance
model=$here/../../data/samples/finance/forecaster.safetensors
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
symbols=20 days=5000
/usr/bin/python3 "$here/make_prices.py" "$tmp/prices" $symbols $days
mkdir "$tmp/out"
commands=("factors --store --new-only --output {out}/finance-factors.csv {prices}")
# the sample forecaster, when it takes these prices (its inputs are all factors, so it should)
if "$fin" --db "$tmp/probe.db" -q forecast --model "$model" "$tmp/prices/S000.csv" >/dev/null 2>&1; then
    commands+=("forecast --model $model --store --new-only --output {out}/finance-forecasts.csv {prices}")
else
    echo "nightly.sh: the sample forecaster does not take these prices: forecast left out" >&2
fi
commands+=("regimes --store --new-only --output {out}/finance-regimes.csv {prices}"
           "run --output {out}/finance-positions.csv --charts {out}/finance-charts {prices}" "$@")

# night NAME: runs every command once, prints "SECONDS" and one "COMMAND SECONDS" line per command to $tmp/NAME.times
night() {
    local total=0 line words start end
    : >"$tmp/$1.times"
    for line in "${commands[@]}"; do
        line=${line//\{prices\}/$tmp/prices}
        line=${line//\{out\}/$tmp/out}
        read -r -a words <<<"$line"
        start=$(date +%s.%N)
        "$fin" --db "$tmp/bench.db" -q "${words[@]}" >/dev/null
        end=$(date +%s.%N)
        echo "${words[0]} $(echo "$end - $start" | bc)" >>"$tmp/$1.times"
    done
}

night first
# one more bar per file: the next calendar day, a small move from the last close
/usr/bin/python3 - "$tmp/prices" <<'PY'
import datetime, glob, sys
for path in sorted(glob.glob(sys.argv[1] + "/*.csv")):
    last = open(path).read().rstrip("\n").rsplit("\n", 1)[1].split(",")
    day = datetime.date.fromisoformat(last[0]) + datetime.timedelta(days=1)
    c = float(last[4])
    o, cl = c * 1.001, c * 1.004
    with open(path, "a") as f:
        f.write(f"{day.isoformat()},{o:.4f},{max(o, cl) * 1.002:.4f},{min(o, cl) * 0.998:.4f},{cl:.4f},50000\n")
PY
night rerun
bytes=$(stat -c %s "$tmp/bench.db")
[ -f "$tmp/bench.db-wal" ] && bytes=$((bytes + $(stat -c %s "$tmp/bench.db-wal")))
/usr/bin/python3 - "$tmp" "$bytes" $((symbols * (days + 1))) "$(wc -l <"$tmp/out/finance-factors.csv")" <<'PY'
import json, sys
tmp, size, symbol_days, csv_lines = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
def times(name):
    return [(l.split()[0], float(l.split()[1])) for l in open(f"{tmp}/{name}.times")]
first, rerun = times("first"), times("rerun")
t1, t2 = sum(t for _, t in first), sum(t for _, t in rerun)
print(json.dumps({
    "symbols": 20, "days": 5000,
    "first_s": round(t1, 3), "rerun_s": round(t2, 3), "ratio": round(t2 / t1, 4),
    "db_bytes": size, "bytes_per_symbol_day": round(size / symbol_days, 1),
    "rerun_factor_csv_rows": csv_lines - 1,
    "commands": [{"command": c, "first_s": round(a, 3), "rerun_s": round(b, 3)} for (c, a), (_, b) in zip(first, rerun)],
}))
PY
