#!/usr/bin/env bash
# Connection rate and SELECT 1 round trips: walrep vs PostgreSQL 15 on this machine, same run.
#   bench/connect.sh [SECONDS]   (default 10 s per measurement)
source "$(dirname "$0")/common.sh"
secs="${1:-10}"
bench_setup
start_both "max_connections = 100"
echo "SELECT 1;" >"$BENCH_DIR/select1.sql"

printf '| measurement | walrep | PostgreSQL 15 | walrep / PG15 |\n|---|---|---|---|\n'
run() {
  local label=$1
  shift
  local w p
  w=$(pgbench_tps "$WALREP_PORT" "$@")
  p=$(pgbench_tps "$PG_PORT" "$@")
  printf '| %s | %.0f | %.0f | %s |\n' "$label" "$w" "$p" "$(ratio "$w" "$p")"
}
run "SELECT 1 round trips/s, simple protocol, 4 clients" -n -f "$BENCH_DIR/select1.sql" -T "$secs" -c 4 -j 2
run "SELECT 1 round trips/s, prepared, 4 clients" -n -M prepared -f "$BENCH_DIR/select1.sql" -T "$secs" -c 4 -j 2
run "SELECT 1 round trips/s, simple protocol, 1 client" -n -f "$BENCH_DIR/select1.sql" -T "$secs" -c 1 -j 1
run "connections/s (new connection per SELECT 1), 4 clients" -n -C -f "$BENCH_DIR/select1.sql" -T "$secs" -c 4 -j 2
