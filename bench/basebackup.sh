#!/usr/bin/env bash
# Base backup speed: pg_basebackup -X stream -c fast (PostgreSQL 15's tool against both servers)
# of a cluster filled by pgbench -i at SCALE (defaults to about 1 GB of data on PG15).
# Reports the data size, seconds and MB/s of walrep and PostgreSQL 15, and the ratio.
#   bench/basebackup.sh [SCALE]   (default 70)
source "$(dirname "$0")/common.sh"
scale="${1:-70}"
bench_setup
start_both "shared_buffers = 128MB" "max_wal_size = 4GB"

backup() {  # PORT DIR OWNER -> "MB seconds"
  "$PGBIN/pgbench" -i -q -s "$scale" -h 127.0.0.1 -p "$1" -U postgres postgres >/dev/null 2>&1
  q "$1" "CHECKPOINT" >/dev/null
  local t0 t1
  t0=$(now)
  if [ "$3" = postgres ]; then
    su postgres -c "$PGBIN/pg_basebackup -h 127.0.0.1 -p $1 -U postgres -D $2 -X stream -c fast"
  else
    "$PGBIN/pg_basebackup" -h 127.0.0.1 -p "$1" -U postgres -D "$2" -X stream -c fast
  fi
  t1=$(now)
  echo "$(du -sm --exclude=pg_wal "$2" | awk '{print $1}') $(python3 -c "print(f'{$t1 - $t0:.2f}')")"
  rm -rf "$2"
}
read -r w_mb w_s < <(backup "$WALREP_PORT" "$BENCH_DIR/bk_walrep" root)
read -r p_mb p_s < <(backup "$PG_PORT" "$BENCH_DIR/bk_pg" postgres)
w_rate=$(python3 -c "print(f'{$w_mb / $w_s:.1f}')")
p_rate=$(python3 -c "print(f'{$p_mb / $p_s:.1f}')")
printf '| pg_basebackup -X stream of pgbench -i -s %s | walrep | PostgreSQL 15 | walrep / PG15 |\n' "$scale"
printf '|---|---|---|---|\n'
printf '| data copied (MB) | %s | %s | |\n' "$w_mb" "$p_mb"
printf '| seconds | %s | %s | %s |\n' "$w_s" "$p_s" "$(ratio "$p_s" "$w_s")"
printf '| MB/s | %s | %s | %s |\n' "$w_rate" "$p_rate" "$(ratio "$w_rate" "$p_rate")"
