#!/usr/bin/env bash
# gpu-bundle.sh: builds the GPU tests and benchmark here (a machine with the CUDA toolkit, cuDNN and
# our Debian libraries, GPU or not) and packs them for a GPU machine that has the CUDA runtime,
# cuBLAS and cuDNN but none of our Debian libraries: BUNDLE/bin holds the executables,
# BUNDLE/lib.tar.gz the non-CUDA shared libraries they load (found with ldd; gzip takes OpenBLAS
# and oneDNN from 36 and 40 to 12 and 11 MiB), BUNDLE/tests.txt and benches.txt the lists that scripts/gpu-check.sh runs.
# The executables link libmoecore statically with --as-needed, so cairo, SQLite and the rest stay
# out, and compare against the plain CPU kernels, so only test_gpu_attention (the CPU spatial
# attention convolves through oneDNN) brings oneDNN; the bundle must stay under 40 MiB (it is
# copied to the GPU machine beside the repository).
# Usage: scripts/gpu-bundle.sh [BUILD_DIR] [BUNDLE_DIR]   (defaults: build-gpu, build-gpu-bundle)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$root/build-gpu} bundle=${2:-$root/build-gpu-bundle}
tests=(test_gpu_ops test_gpu_moe test_gpu_train test_gpu_oom test_gpu_attention)
benches=(bench_cuda)
limit_mib=40

cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release -DMC_CUDA=ON -DMC_SANITIZE=OFF >/dev/null
cmake --build "$build" -j"$(nproc)" --target "${tests[@]}" "${benches[@]}"

rm -rf "$bundle"
mkdir -p "$bundle/bin" "$bundle/lib"
for t in "${tests[@]}"; do cp "$build/tests/gpu/$t" "$bundle/bin/"; done
for b in "${benches[@]}"; do cp "$build/bench/$b" "$bundle/bin/"; done
strip --strip-unneeded "$bundle"/bin/*
printf '%s\n' "${tests[@]}" >"$bundle/tests.txt"
printf '%s\n' "${benches[@]}" >"$bundle/benches.txt"

# Every shared library the executables load, except the C library's own (present everywhere) and
# the CUDA ones (the GPU machine's driver, runtime, cuBLAS and cuDNN must match its GPU).
skip='^(linux-vdso|ld-linux|libc\.|libm\.|libdl\.|libpthread\.|librt\.|libcuda\.|libcudart\.|libcublas|libcublasLt|libcudnn|libnvidia|libnvrtc|libnvJitLink)'
for exe in "$bundle"/bin/*; do
    ldd "$exe" | awk '$2 == "=>" && $3 ~ /^\// {print $1, $3}'
done | sort -u | while read -r name path; do
    if [[ $name =~ $skip ]]; then continue; fi
    cp -L "$path" "$bundle/lib/$name"
done

{
    echo "built: $(date -u +%Y-%m-%dT%H:%M:%SZ) on $(hostname) from $(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo unknown)"
    echo "cuda: $(/usr/local/cuda/bin/nvcc --version | sed -n 's/.*release \([0-9.]*\).*/\1/p')"
    echo "needs on the GPU machine: $(for exe in "$bundle"/bin/*; do readelf -d "$exe" | sed -n 's/.*NEEDED.*\[\(.*\)\]/\1/p'; done |
        sort -u | grep -E '^(libcublas|libcudnn)' | tr '\n' ' ')"
} >"$bundle/BUILD-INFO"

libs=$(ls "$bundle/lib")
tar -C "$bundle" -czf "$bundle/lib.tar.gz" lib
rm -r "$bundle/lib"
size_kib=$(du -sk "$bundle" | cut -f1)
echo "gpu-bundle: $bundle: $(ls "$bundle/bin" | wc -l) executables, libraries:" $libs", $((size_kib / 1024)) MiB in all"
if [ "$size_kib" -gt $((limit_mib * 1024)) ]; then
    echo "gpu-bundle: $bundle is over $limit_mib MiB" >&2
    exit 1
fi
echo "run on the GPU machine (repository root): scripts/gpu-check.sh ${bundle#"$root"/} \$OUT/gpu-check.json"
