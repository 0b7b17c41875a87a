#!/usr/bin/env bash
# run.sh: the CPU benchmarks of docs/benchmarks.md, libmoecore and PyTorch side by side in one run,
# with the same thread count, printed as a table with the ratio moesuite / PyTorch.
# Usage: bench/run.sh [BUILD_DIR] [THREADS] [REPS]   (defaults: build, all cores, 10)
# Needs Debian's python3-torch for the reference (apt-get install python3-torch).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$root/build} threads=${2:-$(nproc)} reps=${3:-10}
export OMP_NUM_THREADS=$threads
# the instruction set the target_clones kernels run with: the loader picks the best the CPU has
isa=baseline
grep -qw avx2 /proc/cpuinfo && isa=avx2
grep -qw avx512f /proc/cpuinfo && isa=avx512f
echo "CPU: $(lscpu | sed -n 's/^Model name: *//p'), $threads threads, kernels for $isa; $("$build/apps/moe-finance" --version | sed -n 's/^build: //p')"
printf '%-8s %12s %12s %8s\n' case moesuite_ms pytorch_ms ratio
for c in moe conv3d conv2d; do
    ours=$("$build/bench/bench_core" "$c" "$reps")
    ref=$(/usr/bin/python3 "$root/bench/torch_ref.py" "$c" "$reps")
    /usr/bin/python3 - "$ours" "$ref" <<'PY'
import json, sys
a, b = json.loads(sys.argv[1]), json.loads(sys.argv[2])
print(f"{a['case']:<8} {a['ms']:12.1f} {b['ms']:12.1f} {a['ms'] / b['ms']:8.2f}")
PY
done
