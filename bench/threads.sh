#!/usr/bin/env bash
# threads.sh: the default thread count (--threads 0, following the free cores) against fixed counts,
# on a quiet machine and while another process keeps one core busy (a shell busy loop): wall time
# of `moe-factory inspect` over 120 generated images (the sample supervised and anomaly models) and
# of `moe-medical detect` over two generated studies, median of REPS runs each.
# Usage: bench/threads.sh [BUILD_DIR] [REPS]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$root/build}
reps=${2:-3}
fab=$build/apps/moe-factory med=$build/apps/moe-medical
work=$(mktemp -d)
trap 'kill "${spin:-0}" 2>/dev/null; rm -rf "$work"' EXIT
img=$root/data/samples/factory/inspection
"$med" -q --seed 9101 phantom --out "$work/studies" --n 2 --slices 60 >/dev/null

for c in 01 02; do "$fab" -q --seed 77 synth --out "$work/img$c" --classes "${c#0}" --good 40 --defect 20 >/dev/null; done
inspect_sup() { "$fab" -q --db "$work/b.db" --threads "$1" inspect --model "$img/supervised.safetensors" "$work/img02/class01" "$work/img02/class02" >/dev/null; }
inspect_ano() { "$fab" -q --db "$work/b.db" --threads "$1" inspect --model "$img/anomaly_class01.safetensors" "$work/img01/class01" >/dev/null; }
detect() { "$med" -q --db "$work/b.db" --threads "$1" detect -m "$root/data/samples/medical/detector.safetensors" "$work/studies" >/dev/null; }

# median wall seconds of REPS runs of "$@"
median() {
    local t=()
    for _ in $(seq "$reps"); do
        local s=$(date +%s.%N)
        "$@"
        t+=("$(echo "$(date +%s.%N) - $s" | bc)")
    done
    printf '%s\n' "${t[@]}" | sort -n | sed -n "$(((reps + 1) / 2))p"
}

echo "cores: $(nproc); $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'); $(grep -o -m1 'avx512f' /proc/cpuinfo || echo 'no avx512f')"
printf '%-22s %-6s %10s %10s %10s\n' job machine "threads 0" "threads 1" "threads $(nproc)"
for job in inspect_sup inspect_ano detect; do
    for load in quiet busy; do
        if [ $load = busy ]; then (while :; do :; done) & spin=$!; sleep 0.5; fi
        a=$(median $job 0) b=$(median $job 1) c=$(median $job "$(nproc)")
        if [ $load = busy ]; then kill $spin; wait $spin 2>/dev/null || true; spin=; fi
        printf '%-22s %-6s %10.2f %10.2f %10.2f\n' "$job" "$load" "$a" "$b" "$c"
    done
done
