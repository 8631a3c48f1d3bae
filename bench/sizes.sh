#!/usr/bin/env bash
# Storage footprint: table and index sizes after pgbench -i, and WAL bytes per TPC-B
# transaction, walrep vs PostgreSQL 15 in the same run with the same settings.
#   bench/sizes.sh [SCALE] [TRANSACTIONS]   (defaults 10 20000)
source "$(dirname "$0")/common.sh"
scale="${1:-10}"
txns="${2:-20000}"
bench_setup
start_both "shared_buffers = 128MB" "max_wal_size = 4GB" "synchronous_commit = off"

declare -A W P
measure() {  # PORT ARRAY-NAME
  local port=$1
  local -n out=$2
  "$PGBIN/pgbench" -i -q -s "$scale" -h 127.0.0.1 -p "$port" -U postgres postgres >/dev/null 2>&1
  for rel in pgbench_accounts pgbench_accounts_pkey pgbench_branches pgbench_tellers; do
    out[$rel]=$(q "$port" "SELECT pg_relation_size('$rel')")
  done
  q "$port" "CHECKPOINT" >/dev/null
  local from
  from=$(q "$port" "SELECT pg_current_wal_insert_lsn()")
  local per_client=$((txns / 4))
  "$PGBIN/pgbench" -c 4 -j 2 -t "$per_client" -h 127.0.0.1 -p "$port" -U postgres postgres >/dev/null 2>&1
  out[wal]=$(q "$port" "SELECT round(pg_wal_lsn_diff(pg_current_wal_insert_lsn(), '$from') / $((per_client * 4)).0)")
  out[history]=$(q "$port" "SELECT pg_relation_size('pgbench_history')")
}
measure "$WALREP_PORT" W
measure "$PG_PORT" P
printf '| storage (pgbench scale %s, %s TPC-B transactions after a checkpoint) | walrep | PostgreSQL 15 | walrep / PG15 |\n' "$scale" "$txns"
printf '|---|---|---|---|\n'
for rel in pgbench_accounts pgbench_accounts_pkey pgbench_branches pgbench_tellers; do
  printf '| pg_relation_size(%s), bytes | %s | %s | %s |\n' "$rel" "${W[$rel]}" "${P[$rel]}" "$(ratio "${W[$rel]}" "${P[$rel]}")"
done
printf '| pg_relation_size(pgbench_history) after the run, bytes | %s | %s | %s |\n' "${W[history]}" "${P[history]}" "$(ratio "${W[history]}" "${P[history]}")"
printf '| WAL bytes per TPC-B transaction | %s | %s | %s |\n' "${W[wal]}" "${P[wal]}" "$(ratio "${W[wal]}" "${P[wal]}")"
