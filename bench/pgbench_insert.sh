#!/usr/bin/env bash
# Insert-only load on one node: walrep vs PostgreSQL 15, same machine, same run,
# synchronous_commit=on, equal shared_buffers. Each transaction is one INSERT of a row with a
# bigint primary key (so the B-tree is exercised too), as 8 clients commit concurrently: this
# measures group commit. Reports TPS of each server and the ratio.
# STANDBY: none (one node), async (a streaming standby of each server, cloned with
# pg_basebackup) or sync (that standby is synchronous: synchronous_standby_names = 'standby').
#   bench/pgbench_insert.sh [SECONDS] [CLIENTS] [STANDBY]   (defaults 30 8 none)
source "$(dirname "$0")/common.sh"
secs="${1:-30}"
clients="${2:-8}"
standby="${3:-none}"
case "$standby" in none | async | sync) ;; *) echo "STANDBY is none, async or sync" >&2; exit 2 ;; esac
bench_setup
extra=()
[ "$standby" = sync ] && extra+=("synchronous_standby_names = 'standby'")
start_both "shared_buffers = 128MB" "synchronous_commit = on" "max_wal_size = 1GB" "${extra[@]}"
if [ "$standby" != none ]; then
  make_standbys
  start_walrep_standby
  start_pg_standby
fi

cat >"$BENCH_DIR/insert.sql" <<'SQL'
\set id random(1, 9000000000000000000)
INSERT INTO bench_insert (id, client, payload) VALUES (:id, :client_id, 'walrep insert-only benchmark row');
SQL
chmod 644 "$BENCH_DIR/insert.sql"

run() {
  local port=$1
  "$PGBIN/psql" -X -q -h 127.0.0.1 -p "$port" -U postgres -d postgres \
    -c "CREATE TABLE bench_insert (id bigint PRIMARY KEY, client int, payload text)" >/dev/null
  # Random ids from 9e18: a duplicate (which would abort a client) is practically impossible.
  "$PGBIN/pgbench" -h 127.0.0.1 -p "$port" -U postgres -n -f "$BENCH_DIR/insert.sql" -c "$clients" -j 2 -T "$secs" postgres 2>"$BENCH_DIR/pgbench$port.err" |
    awk '/^tps = / {print $3}'
}

w_tps=$(run "$WALREP_PORT")
p_tps=$(run "$PG_PORT")
[ -n "$w_tps" ] && [ -n "$p_tps" ] || { echo "a pgbench run failed:" >&2; cat "$BENCH_DIR"/pgbench*.err >&2; exit 1; }
printf '| measurement (%s clients, %s s, standby: %s) | walrep | PostgreSQL 15 | walrep / PG15 |\n' "$clients" "$secs" "$standby"
printf '|---|---|---|---|\n'
printf '| insert-only TPS | %.1f | %.1f | %s |\n' "$w_tps" "$p_tps" "$(ratio "$w_tps" "$p_tps")"
