#!/usr/bin/env bash
# build.sh: installs what is missing, configures (once) and builds moesuite.
# Usage: scripts/build.sh [BUILD_DIR] [extra cmake -D options...]   (default BUILD_DIR: build)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$root/build}
shift || true

"$root/scripts/install-deps.sh"
if [ ! -f "$build/CMakeCache.txt" ]; then
    cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release "$@" >/dev/null
elif [ $# -gt 0 ]; then
    cmake "$build" "$@" >/dev/null
fi
cmake --build "$build" -j"$(nproc)"
