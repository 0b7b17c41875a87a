#!/usr/bin/env bash
# run.sh: moe-medical's nodule detector, forward pass on a batch of two-channel 24^3 patches,
# libmoecore and PyTorch side by side in one run with the same thread count and the same weights
# (a model file, by default the sample detector); PyTorch runs our weights on our patches and the
# largest output difference is printed beside the times.
# Usage: bench/medical/run.sh [BUILD_DIR] [THREADS] [REPS] [MODEL]
#   (defaults: build, all cores, 20, data/samples/medical/detector.safetensors)
# detector_bench is built with the benchmarks (bench/CMakeLists.txt). Needs Debian's python3-torch.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
build=${1:-$root/build} threads=${2:-$(nproc)} reps=${3:-20}
model=${4:-$root/data/samples/medical/detector.safetensors}
export OMP_NUM_THREADS=$threads
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
echo "CPU: $(lscpu | sed -n 's/^Model name: *//p'), $threads threads"
printf '%-12s %12s %12s %8s %14s\n' case moesuite_ms pytorch_ms ratio max_abs_diff
for batch in 64 8 1; do
    ours=$("$build/bench/detector_bench" "$model" "$batch" "$reps" "$work")
    ref=$(/usr/bin/python3 "$root/bench/medical/torch_detector.py" "$model" "$work" "$batch" "$reps" "$threads")
    /usr/bin/python3 - "$ours" "$ref" <<'PY'
import json, sys
a, b = json.loads(sys.argv[1]), json.loads(sys.argv[2])
print(f"{a['case']:<12} {a['ms']:12.3f} {b['ms']:12.3f} {a['ms'] / b['ms']:8.2f} {b['max_abs_diff']:14.2e}")
PY
done
