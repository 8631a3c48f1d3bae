#!/usr/bin/env bash
# Builds walrep and runs its test suite: setup, configure, build (ccache, -j2), ctest.
# Extra arguments go to ctest (for example: scripts/test.sh -L unit).
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/setup.sh
export CCACHE_DIR="${CCACHE_DIR:-$HOME/.cache/ccache}"
werror=OFF
if [ "${CI:-}" = "true" ]; then werror=ON; fi
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DWALREP_WERROR="$werror" >/dev/null
cmake --build build -j2
if [ $# -eq 0 ]; then set -- -LE "crash|slow"; fi
ctest --test-dir build --output-on-failure -j2 --timeout 600 "$@"
