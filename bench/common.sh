# Shared helpers for walrep benchmarks: start walrep and PostgreSQL 15 side by side on free
# loopback ports with the same settings, and stop both (by PID) on exit.
# Source this file; it sets WALREP_PORT, PG_PORT and BENCH_DIR.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PGBIN=/usr/lib/postgresql/15/bin

bench_setup() {
  "$ROOT/scripts/setup.sh"
  cmake -S "$ROOT" -B "$ROOT/build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
  cmake --build "$ROOT/build" -j2 --target walrepd walrepctl >/dev/null
  BENCH_DIR="$(mktemp -d /tmp/walrep-bench-XXXXXX)"
  chmod 777 "$BENCH_DIR"  # PostgreSQL (user postgres) puts its socket here
  WALREP_PORT="$(free_port)"
  PG_PORT="$(free_port)"
  trap bench_cleanup EXIT
}

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# start_both "setting = value" ...: the same extra settings go to both servers.
start_both() {
  "$ROOT/build/bin/walrepctl" init -D "$BENCH_DIR/walrep" -U postgres >/dev/null
  {
    echo "port = $WALREP_PORT"
    echo "listen_addresses = '127.0.0.1'"
    echo "unix_socket_directories = '$BENCH_DIR'"
    for s in "$@"; do echo "$s"; done
  } >>"$BENCH_DIR/walrep/postgresql.conf"
  "$ROOT/build/bin/walrepctl" start -D "$BENCH_DIR/walrep" -l "$BENCH_DIR/walrep.log" >/dev/null

  # PostgreSQL must run as the postgres user.
  mkdir -p "$BENCH_DIR/pg"
  chown postgres "$BENCH_DIR/pg"
  su postgres -c "$PGBIN/initdb -D $BENCH_DIR/pg -U postgres --auth=trust" >/dev/null
  {
    echo "port = $PG_PORT"
    echo "listen_addresses = '127.0.0.1'"
    echo "unix_socket_directories = '$BENCH_DIR'"
    for s in "$@"; do echo "$s"; done
  } >>"$BENCH_DIR/pg/postgresql.conf"
  su postgres -c "$PGBIN/pg_ctl start -w -D $BENCH_DIR/pg -l $BENCH_DIR/pg/server.log" >/dev/null
}

bench_cleanup() {
  for d in walrep_s pg_s walrep pg; do
    if [ -f "$BENCH_DIR/$d/postmaster.pid" ]; then
      kill -INT "$(head -1 "$BENCH_DIR/$d/postmaster.pid")" 2>/dev/null || true
    fi
  done
  # PostgreSQL may still be removing its files after the signal: retry for a few seconds.
  for _ in 1 2 3 4 5; do
    rm -rf "$BENCH_DIR" 2>/dev/null && break
    sleep 1
  done
}

# make_standbys: a streaming standby of each server, cloned with pg_basebackup -R (PostgreSQL's
# tool for both), on WALREP_S_PORT and PG_S_PORT; not started.
make_standbys() {
  WALREP_S_PORT="$(free_port)"
  PG_S_PORT="$(free_port)"
  "$PGBIN/pg_basebackup" -h 127.0.0.1 -p "$WALREP_PORT" -U postgres -D "$BENCH_DIR/walrep_s" \
    -R -X stream -c fast >/dev/null
  printf "port = %s\ncluster_name = 'standby'\n" "$WALREP_S_PORT" >>"$BENCH_DIR/walrep_s/postgresql.auto.conf"
  su postgres -c "$PGBIN/pg_basebackup -h 127.0.0.1 -p $PG_PORT -U postgres -D $BENCH_DIR/pg_s -R -X stream -c fast" >/dev/null
  printf "port = %s\ncluster_name = 'standby'\n" "$PG_S_PORT" >>"$BENCH_DIR/pg_s/postgresql.auto.conf"
}
start_walrep_standby() {
  "$ROOT/build/bin/walrepctl" start -D "$BENCH_DIR/walrep_s" -l "$BENCH_DIR/walrep_s.log" >/dev/null
}
start_pg_standby() {
  su postgres -c "$PGBIN/pg_ctl start -w -D $BENCH_DIR/pg_s -l $BENCH_DIR/pg_s.log" >/dev/null
}
stop_walrep_standby() { "$ROOT/build/bin/walrepctl" stop -D "$BENCH_DIR/walrep_s" >/dev/null; }
stop_pg_standby() { su postgres -c "$PGBIN/pg_ctl stop -w -D $BENCH_DIR/pg_s" >/dev/null; }

# q PORT SQL: one value.
q() { "$PGBIN/psql" -X -A -t -h 127.0.0.1 -p "$1" -U postgres -c "$2" postgres; }

# wait_replay PRIMARY_PORT STANDBY_PORT: until the standby replayed the primary's flush LSN.
wait_replay() {
  local target
  target=$(q "$1" "SELECT pg_current_wal_flush_lsn()")
  until [ "$(q "$2" "SELECT pg_wal_lsn_diff(pg_last_wal_replay_lsn(), '$target') >= 0" 2>/dev/null)" = t ]; do
    sleep 0.05
  done
}

now() { date +%s.%N; }

# pgbench_tps PORT ARGS...: prints the tps number pgbench reports.
pgbench_tps() {
  local port=$1
  shift
  "$PGBIN/pgbench" -h 127.0.0.1 -p "$port" -U postgres "$@" postgres 2>/dev/null |
    awk '/^tps = / {print $3}'
}

ratio() { python3 -c "print(f'{float($1)/float($2):.2f}')"; }

# rate_table TITLE UNIT COUNT WALREP_SECONDS PG_SECONDS: the result table of COUNT units of work
# timed on each server: the seconds, UNIT per second, and walrep's rate over PostgreSQL's.
rate_table() {
  local wr pr
  wr=$(python3 -c "print(round($3 / $4))")
  pr=$(python3 -c "print(round($3 / $5))")
  printf '| %s | walrep | PostgreSQL 15 | walrep / PG15 |\n' "$1"
  printf '|---|---|---|---|\n'
  printf '| seconds | %s | %s | |\n' "$4" "$5"
  printf '| %s/s | %s | %s | %s |\n' "$2" "$wr" "$pr" "$(ratio "$wr" "$pr")"
}
