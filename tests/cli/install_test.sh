#!/usr/bin/env bash
# install_test.sh: installs the build into a scratch prefix and builds a program against it,
# once with CMake's find_package(moecore) and once with pkg-config.
# Usage: install_test.sh BUILD_DIR SCRATCH_DIR SOURCE_DIR SANITIZE(ON|OFF)
set -euo pipefail
build=$1 scratch=$2 src=$3 sanitize=$4
rm -rf "$scratch" && mkdir -p "$scratch"
prefix=$scratch/prefix
flags=()
[ "$sanitize" = ON ] && flags=(-fsanitize=address,undefined)
cmake --install "$build" --prefix "$prefix" >/dev/null
for f in bin/moe-finance bin/moe-medical bin/moe-factory include/moecore/cli.h include/moecore/config.h \
         lib/libmoecore.a lib/pkgconfig/moecore.pc lib/cmake/moecore/moecoreConfig.cmake share/doc/moesuite/schema.md; do
    [ -e "$prefix/$f" ] || { echo "not installed: $f" >&2; exit 1; }
done
"$prefix/bin/moe-finance" --version | grep -q '^moe-finance '

cmake -S "$src/tests/cli/install_consumer" -B "$scratch/consumer" -DCMAKE_PREFIX_PATH="$prefix" \
      -DCMAKE_C_FLAGS="${flags[*]}" >/dev/null
cmake --build "$scratch/consumer" >/dev/null
want="0.1.0 malformed input"
[ "$("$scratch/consumer/consumer")" = "$want" ]
[ "$(LD_LIBRARY_PATH=$prefix/lib "$scratch/consumer/consumer_shared")" = "$want" ]

export PKG_CONFIG_PATH=$prefix/lib/pkgconfig
# shellcheck disable=SC2046
cc "${flags[@]}" -o "$scratch/pc_consumer" "$src/tests/cli/install_consumer/main.c" $(pkg-config --cflags --libs moecore)
[ "$(LD_LIBRARY_PATH=$prefix/lib "$scratch/pc_consumer")" = "$want" ]
echo "install: 4 passed, 0 failed"
