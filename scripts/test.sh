#!/usr/bin/env bash
# Builds walrep and runs its test suite: setup, configure, build (ccache, -j2), ctest.
# Extra arguments go to ctest (for example: scripts/test.sh -L unit).
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/setup.sh
export CCACHE_DIR="${CCACHE_DIR:-$HOME/.cache/ccache}"
export CCACHE_BASEDIR="${CCACHE_BASEDIR:-$PWD}"  # clones elsewhere hit the same cache entries
werror=OFF
if [ "${CI:-}" = "true" ]; then werror=ON; fi
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DWALREP_WERROR="$werror" >/dev/null
cmake --build build -j2
if [ $# -gt 0 ]; then
  exec ctest --test-dir build --output-on-failure -j2 --timeout 600 "$@"
fi
ctest --test-dir build --output-on-failure -j2 --timeout 600 -LE "crash|slow"
# The replication, recovery and failover tests again with wal_consistency_checking = all and four
# parallel redo workers: every page a standby or crash recovery replays is compared with the
# primary's image of it, and a difference fails the test (tests/support/testing.cc) — the oracle
# for changes to redo. (The first run used walrep.recovery_workers' default: no workers.)
WALREP_TEST_SETTINGS='wal_consistency_checking = all;walrep.recovery_workers = 4' \
  ctest --test-dir build --output-on-failure -j2 --timeout 600 -LE "crash|slow" \
  -R '^(Methods/)?(Streaming|HotStandby|SyncRep|Failover|FailoverLoad|FailoverMethod|Rewind|Archive|Pitr|Slots|UnloggedTables|Crash|WalConsistency)Test\.'
# Every fuzz target briefly from its seed corpus, with ASan and UBSan (tests/fuzz, docs/reliability.md).
scripts/fuzz.sh all "${WALREP_FUZZ_SECONDS:-8}"
