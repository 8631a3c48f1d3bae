#!/usr/bin/env bash
# Standby start with WAL waiting in pg_wal: replay is paused on a running standby while the
# primary writes pgbench -i -s SCALE (about 1 GB of WAL at 60); once the standby has received
# all of it, it is stopped and started again. Reports how long `start -w` takes (walrepctl
# against pg_ctl: until the standby accepts read-only connections) and how long until it has
# replayed everything, for walrep and PostgreSQL 15.
#   bench/standby_start.sh [SCALE]   (default 60)
source "$(dirname "$0")/common.sh"
scale="${1:-60}"
bench_setup
start_both "shared_buffers = 128MB" "max_wal_size = 4GB" "wal_keep_size = 8GB"
make_standbys

measure() {  # PORT START STOP STANDBY_PORT -> "MB start_seconds caught_up_seconds"
  local port=$1 start_fn=$2 stop_fn=$3 sport=$4
  $start_fn
  wait_replay "$port" "$sport"
  q "$sport" "SELECT pg_wal_replay_pause()" >/dev/null
  local from
  from=$(q "$sport" "SELECT pg_last_wal_replay_lsn()")
  "$PGBIN/pgbench" -i -q -s "$scale" -h 127.0.0.1 -p "$port" -U postgres postgres >/dev/null 2>&1
  local target
  target=$(q "$port" "SELECT pg_current_wal_flush_lsn()")
  until [ "$(q "$port" "SELECT flush_lsn >= '$target' FROM pg_stat_replication")" = t ]; do
    sleep 0.05
  done
  local mb
  mb=$(q "$port" "SELECT round(pg_wal_lsn_diff('$target', '$from') / 1048576.0, 1)")
  $stop_fn
  local t0 t1 t2
  t0=$(now)
  $start_fn
  t1=$(now)
  wait_replay "$port" "$sport"
  t2=$(now)
  echo "$mb $(python3 -c "print(f'{$t1 - $t0:.2f} {$t2 - $t0:.2f}')")"
}

read -r w_mb w_start w_done < <(measure "$WALREP_PORT" start_walrep_standby stop_walrep_standby "$WALREP_S_PORT")
read -r p_mb p_start p_done < <(measure "$PG_PORT" start_pg_standby stop_pg_standby "$PG_S_PORT")
printf '| standby start (pgbench -i -s %s received, not replayed) | walrep | PostgreSQL 15 | walrep / PG15 |\n' "$scale"
printf '|---|---|---|---|\n'
printf '| WAL waiting in pg_wal (MB) | %s | %s | |\n' "$w_mb" "$p_mb"
printf '| seconds until start -w returns | %s | %s | %s |\n' "$w_start" "$p_start" "$(ratio "$w_start" "$p_start")"
printf '| seconds until caught up | %s | %s | %s |\n' "$w_done" "$p_done" "$(ratio "$w_done" "$p_done")"
