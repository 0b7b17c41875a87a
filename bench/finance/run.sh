#!/usr/bin/env bash
# run.sh: moe-finance's speed beside the references, in one run: all factors for 100 symbols x 5000
# days against R's TTR and TA-Lib on the matched indicators; `regimes` on one symbol (its walk-forward
# fits and the hindsight pass) beside one 2-state fit of hmmlearn and statsmodels on the same returns.
# Usage: [BASELINE=OTHER_MOE_FINANCE] bench/finance/run.sh [BUILD_DIR] [PYPI_PYTHON]
#   PYPI_PYTHON: a Python with hmmlearn and ta-lib (PyPI), e.g. a venv:
#   python3 -m venv /tmp/fb && /tmp/fb/bin/pip install hmmlearn ta-lib
#   BASELINE: another moe-finance binary (e.g. an older build) whose factors are timed on the same prices
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
build=${1:-$here/../../build} hmmpy=${2:-}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
/usr/bin/python3 "$here/make_prices.py" "$tmp/prices" 100 5000
fin=$build/apps/moe-finance
time_factors() { # BINARY LABEL
    rm -f "$tmp/b.db"
    local start end
    start=$(date +%s.%N)
    "$1" --db "$tmp/b.db" -q factors "$tmp/prices" >/dev/null
    end=$(date +%s.%N)
    echo "{\"impl\":\"$2 (193 factors, reading included)\",\"files\":100,\"seconds\":$(echo "$end - $start" | bc | sed 's/^\./0./')}"
}
time_factors "$fin" "moe-finance factors"
[ -n "${BASELINE:-}" ] && time_factors "$BASELINE" "baseline $BASELINE factors"
Rscript "$here/ttr_time.R" "$tmp/prices"
[ -n "$hmmpy" ] && "$hmmpy" "$here/talib_time.py" "$tmp/prices"
one=$tmp/prices/S000.csv
start=$(date +%s.%N)
"$fin" --db "$tmp/b.db" --json regimes --states 2 "$one" >"$tmp/r.json"
end=$(date +%s.%N)
/usr/bin/python3 -c "import json,sys; d=json.load(open(sys.argv[1])); print(json.dumps({'impl':'moe-finance regimes (the walk-forward fits, 2 seeded starts each, and the hindsight pass; reading included)','fits':d['fits'],'seconds':round($end-$start,4)}))" "$tmp/r.json"
[ -n "$hmmpy" ] && "$hmmpy" "$here/hmm_time.py" "$one" hmmlearn
PYTHONNOUSERSITE=1 /usr/bin/python3 "$here/hmm_time.py" "$one" statsmodels 2>/dev/null
