#!/usr/bin/env bash
# gpu-check.sh: on a GPU machine (CUDA driver, runtime, cuBLAS and cuDNN; none of our Debian
# libraries, no network, perhaps no ctest), from the repository root with a bundle made elsewhere by
# scripts/gpu-bundle.sh: prints nvidia-smi, runs every GPU test of BUNDLE/tests.txt, then the GPU
# benchmarks (bench_cuda and, when PyTorch with CUDA is there, bench/gpu/torch_cuda.py: the MoE
# layer at 8192 tokens, the grouped GEMM at 2048, 8192 and 32768 tokens, the 3D and 2D conv stacks),
# and writes one JSON file with every test's result and every benchmark figure, plus the full logs
# beside it. Each step has a time limit, cut to what is left of a 7.5-minute budget (a step with
# under 5 s left is recorded as skipped), so the whole run stays under 8 minutes.
# Usage: scripts/gpu-check.sh [BUNDLE_DIR] [OUT_JSON]
#   (defaults: build-gpu-bundle, $OUT/gpu-check.json or ./gpu-check.json)
set -uo pipefail
bundle=${1:-build-gpu-bundle}
json=${2:-${OUT:-.}/gpu-check.json}
logs=$(dirname "$json")/gpu-check-logs
mkdir -p "$logs"
libdir=$(mktemp -d)
trap 'rm -rf "$libdir"' EXIT
tar -C "$libdir" -xzf "$bundle/lib.tar.gz"
export LD_LIBRARY_PATH=$libdir/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
start=$(date +%s)
deadline=$((start + 450))

# The time limit of a step that wants $1 seconds: what is left of the budget, at most $1.
limit_for() {
    local left=$((deadline - $(date +%s)))
    echo $(($1 < left ? $1 : left))
}

# A JSON string of stdin.
json_str() { sed -e 's/\\/\\\\/g' -e 's/"/\\"/g' -e 's/\t/\\t/g' -e 's/\r//g' | tr -d '\000-\010\013-\037' |
    awk 'BEGIN { printf "\"" } NR > 1 { printf "\\n" } { printf "%s", $0 } END { printf "\"" }'; }

smi=$(nvidia-smi 2>&1 || true)
echo "$smi"
missing=$(for exe in "$bundle"/bin/*; do ldd "$exe" 2>&1 | sed -n "s|^\s*\(\S*\) => not found|$(basename "$exe"): \1|p"; done)
[ -n "$missing" ] && echo "missing libraries:" && echo "$missing"

tests_json=""
while read -r t; do
    [ -n "$t" ] || continue
    t0=$(date +%s.%N)
    limit=$(limit_for 90)
    if [ "$limit" -ge 5 ]; then
        timeout "$limit" "$bundle/bin/$t" >"$logs/$t.log" 2>&1
        rc=$?
    else
        echo "not run: the time budget is spent" >"$logs/$t.log"
        rc=124
    fi
    secs=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
    case $rc in 0) status=pass ;; 77) status=skip ;; 124) status=timeout ;; *) status=fail ;; esac
    echo "== $t: $status (rc $rc, ${secs}s): $(tail -n 1 "$logs/$t.log")"
    grep '^FAIL' "$logs/$t.log" | head -40
    tests_json+="${tests_json:+,}{\"name\":\"$t\",\"status\":\"$status\",\"rc\":$rc,\"seconds\":$secs,"
    tests_json+="\"checks_ok\":$(grep -c '^ok' "$logs/$t.log"),\"checks_failed\":$(grep -c '^FAIL' "$logs/$t.log"),"
    tests_json+="\"failures\":$(grep '^FAIL' "$logs/$t.log" | head -40 | json_str),\"log_tail\":$(tail -n 30 "$logs/$t.log" | json_str)}"
done <"$bundle/tests.txt"

bench_json="" bench_errors=""
run_bench() { # name, limit in seconds, command...
    local name=$1 limit=$2
    shift 2
    local out rc
    limit=$(limit_for "$limit")
    if [ "$limit" -lt 5 ]; then
        bench_errors+="${bench_errors:+,}{\"bench\":\"$name\",\"rc\":124,\"stderr\":\"not run: the time budget is spent\"}"
        return
    fi
    out=$(timeout "$limit" "$@" 2>"$logs/$name.err")
    rc=$?
    echo "$out" >"$logs/$name.log"
    echo "== $name (rc $rc)"
    echo "$out"
    while read -r line; do
        [[ $line == \{* ]] && bench_json+="${bench_json:+,}$line"
    done <<<"$out"
    [ "$rc" -ne 0 ] && bench_errors+="${bench_errors:+,}{\"bench\":\"$name\",\"rc\":$rc,\"stderr\":$(tail -n 20 "$logs/$name.err" | json_str)}"
}
# the first Python that has PyTorch, else any
python=""
for p in python3 /usr/bin/python3; do
    if command -v "$p" >/dev/null && "$p" -c 'import torch' 2>/dev/null; then python=$p && break; fi
done
[ -n "$python" ] || python=$(command -v python3 || true)
run_bench bench_cuda_moe 120 "$bundle/bin/bench_cuda" moe 8192 10
for tokens in 2048 8192 32768; do run_bench "bench_cuda_grouped_$tokens" 60 "$bundle/bin/bench_cuda" grouped "$tokens" 20; done
for c in conv3d conv2d; do run_bench "bench_cuda_$c" 60 "$bundle/bin/bench_cuda" "$c" 8 10; done
if [ -n "$python" ]; then
    run_bench torch_cuda_moe 120 "$python" bench/gpu/torch_cuda.py moe 8192 10
    for tokens in 2048 8192 32768; do run_bench "torch_cuda_grouped_$tokens" 60 "$python" bench/gpu/torch_cuda.py grouped "$tokens" 20; done
    for c in conv3d conv2d; do run_bench "torch_cuda_$c" 60 "$python" bench/gpu/torch_cuda.py "$c" 8 10; done
else
    bench_errors+="${bench_errors:+,}{\"bench\":\"torch_cuda\",\"rc\":127,\"stderr\":\"no python3 on this machine\"}"
fi

{
    printf '{"date":"%s","host":%s,"bundle_info":%s,' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$(hostname | json_str)" \
        "$(json_str <"$bundle/BUILD-INFO")"
    printf '"nvidia_smi":%s,"missing_libraries":%s,' "$(echo "$smi" | json_str)" "$(echo "$missing" | json_str)"
    printf '"tests":[%s],"bench":[%s],"bench_errors":[%s],"seconds":%d}\n' "$tests_json" "$bench_json" "$bench_errors" \
        $(($(date +%s) - start))
} >"$json"
echo "gpu-check: wrote $json ($(($(date +%s) - start)) s)"
