#!/usr/bin/env bash
# install-deps.sh: installs, with apt-get, every Debian package that building and testing
# moesuite needs, and does nothing when all of them are present. Runs as root, or through sudo.
set -euo pipefail

packages=(
    # toolchain
    build-essential cmake pkg-config
    # libraries libmoecore links (docs/architecture.md)
    libsqlite3-dev libjansson-dev libopenblas-openmp-dev libgsl-dev libdnnl-dev libcairo2-dev
    # libraries one program needs: moe-medical (DICOM, NIfTI, zlib for deflated DICOM), moe-factory (PNG,
    # FAISS for the anomaly model's nearest-neighbour search, NLopt and LAPACKE for process tuning's
    # Gaussian process)
    libgdcm-dev libnifti-dev zlib1g-dev libpng-dev libfaiss-dev libnlopt-dev liblapacke-dev
    # tests, the nightly job and analysts' queries
    libcmocka-dev sqlite3 python3 python3-numpy python3-prometheus-client bsdutils
    # reference oracles in tests: PIL for PNG decoding, pydicom (and its test images) for DICOM
    python3-pil python3-pydicom
)

missing=()
for p in "${packages[@]}"; do
    status=$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null || true)
    [ "$status" = installed ] || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

as_root=()
if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null || { echo "install-deps: need root or sudo to install: ${missing[*]}" >&2; exit 1; }
    as_root=(sudo)
fi
echo "install-deps: installing ${missing[*]}" >&2
"${as_root[@]}" apt-get update -qq
DEBIAN_FRONTEND=noninteractive "${as_root[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
