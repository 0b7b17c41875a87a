#!/usr/bin/env bash
# test.sh: installs what is missing, builds, and runs every test.
# Usage: scripts/test.sh [--quick] [BUILD_DIR] [extra cmake -D options...]   (default BUILD_DIR: build)
#   --quick   leave out the tests labelled slow (the end-to-end training runs and the nightly batch)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
select=()
if [ "${1:-}" = --quick ]; then
    select=(-LE slow)
    shift
fi
build=${1:-$root/build}
shift || true
"$root/scripts/build.sh" "$build" "$@"
# a test that hangs fails after 20 minutes instead of holding the run
ctest --test-dir "$build" --output-on-failure --timeout 1200 -j"$(nproc)" "${select[@]}"
