#!/usr/bin/env bash
# Standby catch-up speed: stop the standby, generate WAL on the primary (pgbench -i at SCALE plus
# a TPC-B run), start the standby and time until it has replayed everything the primary
# flushed. Reports WAL MB, seconds and MB/s of walrep and PostgreSQL 15, and the ratio.
#   bench/catchup.sh [SCALE] [SECONDS_OF_TPCB]   (defaults 60 20: about 1 GB of WAL on PG15)
source "$(dirname "$0")/common.sh"
scale="${1:-60}"
secs="${2:-20}"
bench_setup
start_both "shared_buffers = 128MB" "max_wal_size = 4GB" "wal_keep_size = 8GB"
make_standbys

measure() {  # PORT START STOP -> "MB seconds"
  local port=$1 start_fn=$2 stop_fn=$3 sport=$4
  $start_fn
  wait_replay "$port" "$sport"
  $stop_fn
  local from
  from=$(q "$port" "SELECT pg_current_wal_lsn()")
  "$PGBIN/pgbench" -i -q -s "$scale" -h 127.0.0.1 -p "$port" -U postgres postgres >/dev/null 2>&1
  "$PGBIN/pgbench" -c 4 -j 2 -T "$secs" -h 127.0.0.1 -p "$port" -U postgres postgres >/dev/null 2>&1
  local mb
  mb=$(q "$port" "SELECT round(pg_wal_lsn_diff(pg_current_wal_flush_lsn(), '$from') / 1048576.0, 1)")
  local t0 t1
  t0=$(now)
  $start_fn
  wait_replay "$port" "$sport"
  t1=$(now)
  echo "$mb $(python3 -c "print(f'{$t1 - $t0:.2f}')")"
}

read -r w_mb w_s < <(measure "$WALREP_PORT" start_walrep_standby stop_walrep_standby "$WALREP_S_PORT")
read -r p_mb p_s < <(measure "$PG_PORT" start_pg_standby stop_pg_standby "$PG_S_PORT")
w_rate=$(python3 -c "print(f'{$w_mb / $w_s:.1f}')")
p_rate=$(python3 -c "print(f'{$p_mb / $p_s:.1f}')")
printf '| catch-up (pgbench -i -s %s + %s s TPC-B while the standby was down) | walrep | PostgreSQL 15 | walrep / PG15 |\n' "$scale" "$secs"
printf '|---|---|---|---|\n'
printf '| WAL to replay (MB) | %s | %s | |\n' "$w_mb" "$p_mb"
printf '| seconds from standby start to caught up | %s | %s | |\n' "$w_s" "$p_s"
printf '| replay MB/s | %s | %s | %s |\n' "$w_rate" "$p_rate" "$(ratio "$w_rate" "$p_rate")"
