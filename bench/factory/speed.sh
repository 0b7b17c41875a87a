#!/usr/bin/env bash
# speed.sh: `moe-factory inspect` time per 512 x 512 grey PNG for both models (the 128 x 128 input),
# with 1 and 2 threads and the default (following the free cores), on a quiet machine and while
# another process keeps one core busy (a shell busy loop). The supervised model is the sample one;
# the good-only model is trained here with the default settings on 40 generated good images of the
# same look as the 96 inspected. Per image: the wall time of the whole command over the images
# (reading, decoding, preprocessing, the model, the database rows), median of REPS runs.
# Usage: bench/factory/speed.sh [BUILD_DIR] [REPS]   (defaults: build, 3)
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
build=${1:-$root/build}
reps=${2:-3}
fab=$build/apps/moe-factory
work=$(mktemp -d)
trap 'kill "${spin:-0}" 2>/dev/null; rm -rf "$work"' EXIT
cd "$work"
"$fab" -q --db b.db --seed 3 synth -o s --classes 1 --good 136 --defect 0 --size 512 >/dev/null
mkdir -p train test
for i in $(seq 0 135); do f=$(printf %04d.png "$i"); if [ "$i" -lt 40 ]; then mv s/class01/good/$f train/; else mv s/class01/good/$f test/; fi; done
"$fab" -q --db b.db --seed 1 train --good train --mode anomaly -o anomaly.safetensors >/dev/null
n=$(ls test | wc -l)
run() { "$fab" -q --db b.db --threads "$2" inspect -m "$1" test >/dev/null; }
median_ms() {  # median over REPS runs of the wall milliseconds per image of run "$@"
    local t=()
    for _ in $(seq "$reps"); do
        local s=$(date +%s%N)
        run "$@"
        t+=("$(( ($(date +%s%N) - s) / 1000 ))")
    done
    local us=$(printf '%s\n' "${t[@]}" | sort -n | sed -n "$(((reps + 1) / 2))p")
    echo "scale=2; $us / 1000 / $n" | bc
}
echo "CPU: $(lscpu | sed -n 's/^Model name: *//p'), $(nproc) cores, $(grep -o -m1 -w 'avx512f' /proc/cpuinfo || echo 'AVX2, no AVX-512')"
printf '%-11s %-6s %12s %12s %12s   (ms per %d x 512 x 512 PNG)\n' model machine "threads 0" "threads 1" "threads 2" "$n"
for model in supervised anomaly; do
    m=$root/data/samples/factory/inspection/supervised.safetensors
    [ $model = anomaly ] && m=$work/anomaly.safetensors
    for load in quiet busy; do
        if [ $load = busy ]; then (while :; do :; done) & spin=$!; sleep 0.5; fi
        a=$(median_ms "$m" 0) b=$(median_ms "$m" 1) c=$(median_ms "$m" 2)
        if [ $load = busy ]; then kill $spin; wait $spin 2>/dev/null || true; spin=; fi
        printf '%-11s %-6s %12s %12s %12s\n' "$model" "$load" "$a" "$b" "$c"
    done
done
