#!/usr/bin/env bash
# run.sh: moe-factory's supervised inspection network, forward pass on one grey image, libmoecore and
# PyTorch side by side in one run with the same thread count; PyTorch runs our weights on our input
# and the largest output difference is printed beside the times. moesuite_ms is the network as
# inspect runs it (batch norms folded into the convolutions), unfolded_ms as trained.
# Usage: bench/factory/run.sh [BUILD_DIR] [THREADS] [REPS]   (defaults: build, all cores, 50)
# inspect_bench is built with the benchmarks (bench/CMakeLists.txt). Needs Debian's python3-torch.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
build=${1:-$root/build} threads=${2:-$(nproc)} reps=${3:-50}
export OMP_NUM_THREADS=$threads
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
echo "CPU: $(lscpu | sed -n 's/^Model name: *//p'), $threads threads"
printf '%-12s %12s %12s %12s %8s %14s\n' case moesuite_ms unfolded_ms pytorch_ms ratio max_abs_diff
for size in 512 256 128; do
    ours=$("$build/bench/inspect_bench" "$size" "$reps" "$work")
    ref=$(/usr/bin/python3 "$root/bench/factory/torch_inspect.py" "$work" "$size" "$reps" "$threads")
    /usr/bin/python3 - "$ours" "$ref" <<'PY'
import json, sys
a, b = json.loads(sys.argv[1]), json.loads(sys.argv[2])
print(f"{a['case']:<12} {a['ms']:12.3f} {a['ms_unfolded']:12.3f} {b['ms']:12.3f} {a['ms'] / b['ms']:8.2f} {b['max_abs_diff']:14.2e}")
PY
done
