#!/usr/bin/env bash
# TPC-B (pgbench's built-in script) on one node: walrep vs PostgreSQL 15, same machine, same run,
# synchronous_commit=on, equal shared_buffers. Reports TPS, p99 latency and peak RSS of each
# server, and their ratios.
#   bench/pgbench_single.sh [SCALE] [SECONDS] [CLIENTS]   (defaults 1 30 4)
source "$(dirname "$0")/common.sh"
scale="${1:-1}"
secs="${2:-30}"
clients="${3:-4}"
bench_setup
start_both "shared_buffers = 128MB" "synchronous_commit = on" "max_wal_size = 1GB"

run() {
  local port=$1
  "$PGBIN/pgbench" -i -q -s "$scale" -h 127.0.0.1 -p "$port" -U postgres postgres >/dev/null 2>&1
  "$PGBIN/pgbench" -c "$clients" -j 2 -T "$secs" -r -l --log-prefix="$BENCH_DIR/log$port" \
    -h 127.0.0.1 -p "$port" -U postgres postgres 2>/dev/null | awk '/^tps = / {print $3}'
}
p99() {  # 99th percentile latency in ms from pgbench's per-transaction logs
  cat "$BENCH_DIR"/log"$1".* | awk '{print $3}' | sort -n |
    awk '{a[NR]=$1} END {if (NR) printf "%.2f", a[int(NR*0.99)]/1000; else print "n/a"}'
}
rss() { awk '/VmHWM/ {print $2}' "/proc/$1/status"; }

w_tps=$(run "$WALREP_PORT")
p_tps=$(run "$PG_PORT")
w_pid=$(head -1 "$BENCH_DIR/walrep/postmaster.pid")
p_pid=$(head -1 "$BENCH_DIR/pg/postmaster.pid")
printf '| measurement (scale %s, %s clients, %s s) | walrep | PostgreSQL 15 | walrep / PG15 |\n' "$scale" "$clients" "$secs"
printf '|---|---|---|---|\n'
printf '| TPC-B TPS | %.1f | %.1f | %s |\n' "$w_tps" "$p_tps" "$(ratio "$w_tps" "$p_tps")"
w_p99=$(p99 "$WALREP_PORT")
p_p99=$(p99 "$PG_PORT")
printf '| p99 latency (ms) | %s | %s | %s |\n' "$w_p99" "$p_p99" "$(ratio "$p_p99" "$w_p99")"
printf '| peak RSS of the server process (kB; PG: postmaster only) | %s | %s | |\n' "$(rss "$w_pid")" "$(rss "$p_pid")"
