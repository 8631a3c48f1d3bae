#!/usr/bin/env bash
# A standby that was down while its primary wrote (and removed from pg_wal) a lot of WAL:
#  1. catch-up through the archive (restore_command on the standby), walrep vs PostgreSQL 15;
#  2. walrep's archive-serving walsender (the standby has no restore_command: the primary
#     streams the removed WAL from its archive) vs PostgreSQL 15, which cannot and must
#     re-clone the standby with pg_basebackup.
# The database (pgbench -i -s SCALE) exists before the standbys are cloned; while a standby is
# down its primary runs TPC-B for SECONDS. No slots, wal_keep_size = 0, max_wal_size = 64MB:
# the primaries remove that WAL once archived. Reports WAL MB and seconds from standby start
# (or re-clone start) to caught up, and PostgreSQL's time over walrep's.
#   bench/archive_catchup.sh [SCALE] [SECONDS_OF_TPCB]   (defaults 60 60)
source "$(dirname "$0")/common.sh"
scale="${1:-60}"
secs="${2:-60}"
bench_setup
mkdir -p "$BENCH_DIR/arch_walrep" "$BENCH_DIR/arch_pg"
chmod 777 "$BENCH_DIR/arch_walrep" "$BENCH_DIR/arch_pg"
# Each primary archives next to its data directory (the command runs in it).
start_both "shared_buffers = 128MB" "max_wal_size = 64MB" "min_wal_size = 32MB" \
  "wal_keep_size = 0" "archive_mode = on" \
  "archive_command = 'cp %p ../arch_\$(basename \"\$PWD\")/%f'"
# The walrep primary's own restore_command, for its archive-serving walsender.
echo "restore_command = 'cp ../arch_walrep/%f %p'" >>"$BENCH_DIR/walrep/postgresql.conf"
q "$WALREP_PORT" "SELECT pg_reload_conf()" >/dev/null
for port in "$WALREP_PORT" "$PG_PORT"; do
  "$PGBIN/pgbench" -i -q -s "$scale" -h 127.0.0.1 -p "$port" -U postgres postgres >/dev/null 2>&1
done
make_standbys
printf "restore_command = 'cp ../arch_walrep/%%f %%p'\narchive_mode = off\n" \
  >>"$BENCH_DIR/walrep_s/postgresql.auto.conf"
printf "restore_command = 'cp ../arch_pg/%%f %%p'\narchive_mode = off\n" \
  >>"$BENCH_DIR/pg_s/postgresql.auto.conf"

# write PORT: WAL while the standby is down; everything archived, then removed from pg_wal.
# Prints the MB written.
write() {
  local port=$1 dir=$2 from mb
  from=$(q "$port" "SELECT pg_current_wal_lsn()")
  "$PGBIN/pgbench" -c 4 -j 2 -T "$secs" -h 127.0.0.1 -p "$port" -U postgres postgres >/dev/null 2>&1
  q "$port" "SELECT pg_switch_wal()" >/dev/null
  until [ -z "$(ls "$BENCH_DIR/$dir/pg_wal/archive_status/" | grep ready || true)" ]; do sleep 0.2; done
  q "$port" "CHECKPOINT" >/dev/null
  q "$port" "CHECKPOINT" >/dev/null
  mb=$(q "$port" "SELECT round(pg_wal_lsn_diff(pg_current_wal_flush_lsn(), '$from') / 1048576.0, 1)")
  echo "$mb"
}

# caught_up PORT START_FN SPORT: seconds from the standby's start to caught up.
caught_up() {
  local t0 t1
  t0=$(now)
  $2
  wait_replay "$1" "$3"
  t1=$(now)
  python3 -c "print(f'{$t1 - $t0:.2f}')"
}

# 1. Through the archive on both.
start_walrep_standby
wait_replay "$WALREP_PORT" "$WALREP_S_PORT"
stop_walrep_standby
start_pg_standby
wait_replay "$PG_PORT" "$PG_S_PORT"
stop_pg_standby
w_mb=$(write "$WALREP_PORT" walrep)
w_s=$(caught_up "$WALREP_PORT" start_walrep_standby "$WALREP_S_PORT")
p_mb=$(write "$PG_PORT" pg)
p_s=$(caught_up "$PG_PORT" start_pg_standby "$PG_S_PORT")

# 2. walrep: no restore_command on the standby, the walsender serves the archive.
#    PostgreSQL: the standby cannot continue; re-clone it.
stop_walrep_standby
stop_pg_standby
echo "restore_command = ''" >>"$BENCH_DIR/walrep_s/postgresql.auto.conf"
w2_mb=$(write "$WALREP_PORT" walrep)
w2_s=$(caught_up "$WALREP_PORT" start_walrep_standby "$WALREP_S_PORT")
served=$(grep -c "from the archive (removed from pg_wal)" "$BENCH_DIR/walrep.log" || true)
p2_mb=$(write "$PG_PORT" pg)
reclone() {
  rm -rf "$BENCH_DIR/pg_s"
  su postgres -c "$PGBIN/pg_basebackup -h 127.0.0.1 -p $PG_PORT -U postgres -D $BENCH_DIR/pg_s -R -X stream -c fast" >/dev/null
  printf "port = %s\ncluster_name = 'standby'\n" "$PG_S_PORT" >>"$BENCH_DIR/pg_s/postgresql.auto.conf"
  start_pg_standby
}
p2_s=$(caught_up "$PG_PORT" reclone "$PG_S_PORT")

speedup() { python3 -c "print(f'{$2 / $1:.2f}')"; }  # PostgreSQL's time over walrep's
printf '| pgbench scale %s; standby down during %s s of TPC-B, its WAL removed from pg_wal | walrep | PostgreSQL 15 | PG time / walrep time |\n' "$scale" "$secs"
printf '|---|---|---|---|\n'
printf '| 1. WAL to catch up (MB) | %s | %s | |\n' "$w_mb" "$p_mb"
printf '| 1. catch-up through restore_command (s) | %s | %s | %s |\n' "$w_s" "$p_s" "$(speedup "$w_s" "$p_s")"
printf '| 2. WAL to catch up (MB) | %s | %s | |\n' "$w2_mb" "$p2_mb"
printf '| 2. walrep: streamed by the archive-serving walsender (%s segments); PG: re-clone with pg_basebackup, then stream (s) | %s | %s | %s |\n' \
  "$served" "$w2_s" "$p2_s" "$(speedup "$w2_s" "$p2_s")"
