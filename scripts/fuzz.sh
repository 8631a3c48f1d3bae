#!/usr/bin/env bash
# Builds the libFuzzer targets (clang, ASan + UBSan, in build-fuzz/) and runs one or all of them.
#   scripts/fuzz.sh TARGET SECONDS     run one target (tests/fuzz/fuzz_TARGET.cc) for SECONDS
#   scripts/fuzz.sh all SECONDS        each target for SECONDS (what CI runs, briefly)
#   scripts/fuzz.sh list               the targets
# Seeds come from tests/fuzz/corpus/TARGET (committed; scripts/fuzz_seeds.py writes them); what a
# run discovers is kept in build-fuzz/corpus/TARGET. A crash stops the run with the failing input
# saved as build-fuzz/crashes/TARGET/crash-*, and this script exits non-zero.
set -euo pipefail
cd "$(dirname "$0")/.."

targets=$(ls tests/fuzz/fuzz_*.cc | sed 's|.*/fuzz_||; s|\.cc$||' | grep -v '^server$' | tr '\n' ' ')
if [ "${1:-}" = "list" ]; then echo $targets; exit 0; fi
if [ $# -ne 2 ]; then
  echo "usage: scripts/fuzz.sh TARGET|all SECONDS" >&2
  exit 2
fi
which=$1
seconds=$2

export CCACHE_DIR="${CCACHE_DIR:-$HOME/.cache/ccache}"
export CCACHE_BASEDIR="${CCACHE_BASEDIR:-$PWD}"  # clones elsewhere hit the same cache entries
cmake -S . -B build-fuzz -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_C_COMPILER=clang \
  -DCMAKE_CXX_COMPILER=clang++ -DWALREP_FUZZ=ON -DWALREP_BUILD_TESTS=OFF >/dev/null
if [ "$which" = "all" ]; then run=$targets; else run=$which; fi
build_targets=""
for t in $run; do build_targets="$build_targets fuzz_$t"; done
cmake --build build-fuzz -j2 --target walrepctl $build_targets

# Leaks are checked by the tests' ASan builds; a fuzzing process keeps its server alive.
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=0:abort_on_error=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
status=0
for t in $run; do
  mkdir -p "build-fuzz/corpus/$t" "build-fuzz/crashes/$t"
  echo "== fuzz_$t for ${seconds}s"
  # entropic_scale_per_exec_time: mutate fast inputs more than slow ones (up to 30 times). In
  # `sql` a few inputs run until statement_timeout and would otherwise take most of the time.
  if ! "build-fuzz/bin/fuzz_$t" -max_total_time="$seconds" -timeout=20 -rss_limit_mb=4096 \
      -max_len=65536 -entropic_scale_per_exec_time=1 -print_final_stats=1 -artifact_prefix="build-fuzz/crashes/$t/" \
      "build-fuzz/corpus/$t" "tests/fuzz/corpus/$t" 2>"build-fuzz/fuzz_$t.log"; then
    tail -60 "build-fuzz/fuzz_$t.log"
    status=1
  fi
  grep -E "^stat::number_of_executed_units|^stat::peak_rss_mb" "build-fuzz/fuzz_$t.log" || true
done
exit $status
