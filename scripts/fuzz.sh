#!/usr/bin/env bash
# fuzz.sh: builds the fuzz harnesses of tests/fuzz with clang and libFuzzer (ASan + UBSan) in
# build-fuzz and fuzzes every reader for SECONDS, two harnesses at a time. Each harness starts from
# its committed corpus and saved regressions, grows its own corpus in build-fuzz/corpus/<reader>/,
# and writes what it finds (crash-*, leak-*, timeout-*, oom-*) and its log to
# build-fuzz/findings/<reader>/; after a finding it starts again until its time is used (at most 5
# findings each). Ends with a table of runs, coverage and findings per harness.
# Usage: scripts/fuzz.sh [SECONDS] [READER...]   (default: 600 seconds, every reader)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
seconds=${1:-600}
shift || true
build=$root/build-fuzz

"$root/scripts/install-deps.sh"
need=()
for p in clang libclang-rt-14-dev libomp-dev; do
    [ "$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null || true)" = installed ] || need+=("$p")
done
if [ ${#need[@]} -gt 0 ]; then
    as_root=()
    [ "$(id -u)" -eq 0 ] || as_root=(sudo)
    echo "fuzz: installing ${need[*]}" >&2
    "${as_root[@]}" apt-get update -qq
    DEBIAN_FRONTEND=noninteractive "${as_root[@]}" apt-get install -y -qq --no-install-recommends "${need[@]}" >&2
fi

if [ ! -f "$build/CMakeCache.txt" ]; then
    CC=clang CXX=clang++ cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release -DMC_FUZZ=ON -DMC_CUDA=OFF >/dev/null
fi
cmake --build "$build" --target fuzz_harnesses -j"$(nproc)"

readers=("$@")
if [ ${#readers[@]} -eq 0 ]; then
    for f in "$root"/tests/fuzz/fuzz_*.c; do
        r=$(basename "$f" .c)
        r=${r#fuzz_}
        [ "$r" = io ] || readers+=("$r")
    done
fi

# fuzz_one READER: fuzzes it for $seconds in all, starting again after each finding.
fuzz_one() {
    local r=$1 out=$build/findings/$1 corpus=$build/corpus/$1
    mkdir -p "$out" "$corpus"
    local inputs=("$corpus" "$root/tests/fuzz/corpus/$r")
    [ -d "$root/tests/fuzz/regressions/$r" ] && inputs+=("$root/tests/fuzz/regressions/$r")
    local env=(TMPDIR="$out" LSAN_OPTIONS="suppressions=$root/tests/lsan.supp:print_suppressions=0")
    local limits=(-rss_limit_mb=2048)
    # as in tests/fuzz/CMakeLists.txt: the slow unwinder for LeakSanitizer's suppression under GDCM
    case $r in dicom*) env+=(ASAN_OPTIONS=fast_unwind_on_malloc=0) ;; esac
    local left=$seconds start found=0 rc
    : >"$out/fuzz.log"
    while [ "$left" -gt 0 ] && [ "$found" -lt 5 ]; do
        start=$SECONDS
        rc=0
        env "${env[@]}" "$build/tests/fuzz/fuzz_$r" -max_total_time="$left" -timeout=30 "${limits[@]}" -close_fd_mask=3 \
            -print_final_stats=1 -artifact_prefix="$out/" "${inputs[@]}" >>"$out/fuzz.log" 2>&1 || rc=$?
        left=$((left - (SECONDS - start)))
        [ "$rc" -eq 0 ] && break
        found=$((found + 1))
    done
    [ "$left" -gt 0 ] || left=0
    echo "$((seconds - left))" >"$out/seconds"
}

mkdir -p "$build/findings"
echo "fuzz: ${#readers[@]} harnesses, ${seconds}s each, two at a time; logs in $build/findings/" >&2
running=0
for r in "${readers[@]}"; do
    fuzz_one "$r" &
    running=$((running + 1))
    if [ "$running" -ge 2 ]; then
        wait -n
        running=$((running - 1))
    fi
done
wait

printf '%-14s %8s %12s %8s %8s  %s\n' harness seconds runs cov ft findings
status=0
for r in "${readers[@]}"; do
    out=$build/findings/$r
    runs=$(awk '/^stat::number_of_executed_units:/ {n += $2} END {print n + 0}' "$out/fuzz.log")
    last=$(grep -E '^#[0-9]+' "$out/fuzz.log" | tail -1 || true)
    cov=$(sed -n 's/.* cov: \([0-9]*\).*/\1/p' <<<"$last")
    ft=$(sed -n 's/.* ft: \([0-9]*\).*/\1/p' <<<"$last")
    found=$(cd "$out" && ls crash-* leak-* timeout-* oom-* slow-unit-* 2>/dev/null | tr '\n' ' ' || true)
    [ -n "$found" ] && status=1
    printf '%-14s %8s %12s %8s %8s  %s\n' "$r" "$(cat "$out/seconds")" "$runs" "${cov:--}" "${ft:--}" "${found:-none}"
done
exit $status
