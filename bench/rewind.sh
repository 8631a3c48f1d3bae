#!/usr/bin/env bash
# Rejoining an old primary after a failover: walrepctl rewind against PostgreSQL 15's pg_rewind
# (on PostgreSQL), same machine, same run, and a fresh pg_basebackup of the new primary — the
# alternative — for both. Each side: pgbench -i -s SCALE, a standby, promote it, a few seconds
# of TPC-B on both old and new primary (a few MB diverge), stop the old primary, rewind it from
# the running new primary, start it and wait until it has caught up.
#   bench/rewind.sh [SCALE] [SECONDS_OF_DIVERGENCE]   (defaults 60 5: a 0.9 GB database)
source "$(dirname "$0")/common.sh"
scale="${1:-60}"
secs="${2:-5}"
bench_setup
# wal_log_hints: pg_rewind requires it (or checksums) on PostgreSQL.
start_both "shared_buffers = 128MB" "max_wal_size = 1GB" "wal_keep_size = 1GB" "wal_log_hints = on"
for port in "$WALREP_PORT" "$PG_PORT"; do
  "$PGBIN/pgbench" -i -q -s "$scale" -h 127.0.0.1 -p "$port" -U postgres postgres >/dev/null 2>&1
done
make_standbys
start_walrep_standby
start_pg_standby
wait_replay "$WALREP_PORT" "$WALREP_S_PORT"
wait_replay "$PG_PORT" "$PG_S_PORT"
q "$WALREP_S_PORT" "SELECT pg_promote()" >/dev/null
q "$PG_S_PORT" "SELECT pg_promote()" >/dev/null
q "$PG_S_PORT" "CHECKPOINT" >/dev/null  # pg_rewind reads the new primary's pg_control
for port in "$WALREP_PORT" "$WALREP_S_PORT" "$PG_PORT" "$PG_S_PORT"; do
  "$PGBIN/pgbench" -c 2 -j 2 -T "$secs" -h 127.0.0.1 -p "$port" -U postgres postgres >/dev/null 2>&1 &
done
wait
"$ROOT/build/bin/walrepctl" stop -D "$BENCH_DIR/walrep" >/dev/null
su postgres -c "$PGBIN/pg_ctl stop -w -D $BENCH_DIR/pg" >/dev/null
db_mb() { q "$1" "SELECT pg_database_size('postgres') / 1048576"; }
w_db=$(db_mb "$WALREP_S_PORT")
p_db=$(db_mb "$PG_S_PORT")

# rewind_walrep / rewind_pg: rewind, start as a standby of the new primary, caught up.
rewind_walrep() {
  local t0 t1
  t0=$(now)
  "$ROOT/build/bin/walrepctl" rewind -D "$BENCH_DIR/walrep" -R -P \
    --source-server="host=127.0.0.1 port=$WALREP_S_PORT user=postgres dbname=postgres" \
    2>"$BENCH_DIR/walrep_rewind.out"
  "$ROOT/build/bin/walrepctl" start -D "$BENCH_DIR/walrep" -l "$BENCH_DIR/walrep.log" >/dev/null
  wait_replay "$WALREP_S_PORT" "$WALREP_PORT"
  t1=$(now)
  python3 -c "print(f'{$t1 - $t0:.2f}')"
}
rewind_pg() {
  local t0 t1
  t0=$(now)
  su postgres -c "$PGBIN/pg_rewind -D $BENCH_DIR/pg -R -P --source-server='host=127.0.0.1 port=$PG_S_PORT user=postgres dbname=postgres'" \
    2>"$BENCH_DIR/pg_rewind.out"
  # pg_rewind copied the source's configuration files (its port among them).
  echo "port = $PG_PORT" >>"$BENCH_DIR/pg/postgresql.auto.conf"
  su postgres -c "$PGBIN/pg_ctl start -w -D $BENCH_DIR/pg -l $BENCH_DIR/pg/server.log" >/dev/null
  wait_replay "$PG_S_PORT" "$PG_PORT"
  t1=$(now)
  python3 -c "print(f'{$t1 - $t0:.2f}')"
}
w_s=$(rewind_walrep)
p_s=$(rewind_pg)
w_kb=$(grep -o '[0-9]* kB copied' "$BENCH_DIR/walrep_rewind.out" | grep -o '^[0-9]*' || echo "?")
p_kb=$(grep -o '[0-9]*/[0-9]* kB (100%) copied' "$BENCH_DIR/pg_rewind.out" | head -1 | cut -d/ -f1 || echo "?")

# The alternative: a fresh base backup of the new primary (walrep's and PostgreSQL's).
backup_time() {  # PORT DIR
  local t0 t1
  rm -rf "$2"
  t0=$(now)
  "$PGBIN/pg_basebackup" -h 127.0.0.1 -p "$1" -U postgres -D "$2" -X stream -c fast >/dev/null
  t1=$(now)
  python3 -c "print(f'{$t1 - $t0:.2f}')"
}
w_bb=$(backup_time "$WALREP_S_PORT" "$BENCH_DIR/w_bb")
p_bb=$(backup_time "$PG_S_PORT" "$BENCH_DIR/p_bb")
speedup() { python3 -c "print(f'{$2 / $1:.2f}')"; }  # PostgreSQL's time over walrep's
printf '| old primary rejoins (database: walrep %s MB, PG %s MB; %s s of diverged TPC-B) | walrep | PostgreSQL 15 | PG / walrep |\n' "$w_db" "$p_db" "$secs"
printf '|---|---|---|---|\n'
printf '| rewind + start + caught up (s) | %s | %s | %s |\n' "$w_s" "$p_s" "$(speedup "$w_s" "$p_s")"
printf '| copied by the rewind (kB) | %s | %s | |\n' "$w_kb" "$p_kb"
printf '| fresh base backup instead (s, copy only) | %s | %s | |\n' "$w_bb" "$p_bb"
