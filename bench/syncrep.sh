#!/usr/bin/env bash
# Synchronous replication throughput and latency: pgbench TPC-B with one synchronous standby at
# synchronous_commit = remote_write, on and remote_apply, and with ANY 1 of 2 standbys (on);
# walrep and PostgreSQL 15 with the same settings. Then single-client commit latency at `on`
# against its floor: local commit latency (fdatasync) plus a loopback round trip.
#   bench/syncrep.sh [SECONDS] [CLIENTS] [SCALE]   (defaults 60 4 10)
source "$(dirname "$0")/common.sh"
secs="${1:-60}"
clients="${2:-4}"
scale="${3:-10}"
bench_setup
start_both "shared_buffers = 128MB" "max_wal_size = 1GB" \
  "synchronous_standby_names = 'ANY 1 (standby, standby2)'"
make_standbys
# A second standby of each, for ANY 1 of 2.
WALREP_S2_PORT="$(free_port)"
PG_S2_PORT="$(free_port)"
"$PGBIN/pg_basebackup" -h 127.0.0.1 -p "$WALREP_PORT" -U postgres -D "$BENCH_DIR/walrep_s2" -R -X stream -c fast >/dev/null
printf "port = %s\ncluster_name = 'standby2'\n" "$WALREP_S2_PORT" >>"$BENCH_DIR/walrep_s2/postgresql.auto.conf"
su postgres -c "$PGBIN/pg_basebackup -h 127.0.0.1 -p $PG_PORT -U postgres -D $BENCH_DIR/pg_s2 -R -X stream -c fast" >/dev/null
printf "port = %s\ncluster_name = 'standby2'\n" "$PG_S2_PORT" >>"$BENCH_DIR/pg_s2/postgresql.auto.conf"
start_walrep_standby
start_pg_standby
stop_second() {
  "$ROOT/build/bin/walrepctl" stop -D "$BENCH_DIR/walrep_s2" >/dev/null 2>&1 || true
  su postgres -c "$PGBIN/pg_ctl stop -w -D $BENCH_DIR/pg_s2" >/dev/null 2>&1 || true
}
trap 'stop_second; bench_cleanup' EXIT

set_names() {  # PORT VALUE
  q "$1" "ALTER SYSTEM SET synchronous_standby_names = '$2'" >/dev/null
  q "$1" "SELECT pg_reload_conf()" >/dev/null
}
run() {  # PORT LEVEL -> "tps p99ms"
  local port=$1 level=$2
  rm -f "$BENCH_DIR"/log"$port".*
  local tps
  tps=$(PGOPTIONS="-c synchronous_commit=$level" "$PGBIN/pgbench" -c "$clients" -j 2 -T "$secs" \
    -l --log-prefix="$BENCH_DIR/log$port" -h 127.0.0.1 -p "$port" -U postgres postgres 2>/dev/null |
    awk '/^tps = / {print $3}')
  local p99
  p99=$(cat "$BENCH_DIR"/log"$port".* | awk '{print $3}' | sort -n |
    awk '{a[NR]=$1} END {if (NR) printf "%.2f", a[int(NR*0.99)]/1000; else print "n/a"}')
  echo "$tps $p99"
}
for port in "$WALREP_PORT" "$PG_PORT"; do
  "$PGBIN/pgbench" -i -q -s "$scale" -h 127.0.0.1 -p "$port" -U postgres postgres >/dev/null 2>&1
  set_names "$port" "standby"
done
printf '| TPC-B -s %s -c %s -T %s, synchronous standby on loopback | walrep TPS | PG15 TPS | TPS ratio | walrep p99 ms | PG15 p99 ms | p99 ratio (PG/walrep) |\n' "$scale" "$clients" "$secs"
printf '|---|---|---|---|---|---|---|\n'
for level in remote_write on remote_apply; do
  read -r wt wp < <(run "$WALREP_PORT" "$level")
  read -r pt pp < <(run "$PG_PORT" "$level")
  printf '| one sync standby, %s | %.1f | %.1f | %s | %s | %s | %s |\n' "$level" "$wt" "$pt" \
    "$(ratio "$wt" "$pt")" "$wp" "$pp" "$(ratio "$pp" "$wp")"
done
"$ROOT/build/bin/walrepctl" start -D "$BENCH_DIR/walrep_s2" -l "$BENCH_DIR/walrep_s2.log" >/dev/null
su postgres -c "$PGBIN/pg_ctl start -w -D $BENCH_DIR/pg_s2 -l $BENCH_DIR/pg_s2.log" >/dev/null
set_names "$WALREP_PORT" "ANY 1 (standby, standby2)"
set_names "$PG_PORT" "ANY 1 (standby, standby2)"
sleep 1
read -r wt wp < <(run "$WALREP_PORT" on)
read -r pt pp < <(run "$PG_PORT" on)
printf '| ANY 1 (standby, standby2), on | %.1f | %.1f | %s | %s | %s | %s |\n' "$wt" "$pt" \
  "$(ratio "$wt" "$pt")" "$wp" "$pp" "$(ratio "$pp" "$wp")"

# Single-client commit latency at `on` against the floor (local commit + loopback round trip).
latency() {  # PORT LEVEL -> ms per commit
  PGOPTIONS="-c synchronous_commit=$2" "$PGBIN/pgbench" -n -c 1 -T 10 -f <(echo 'INSERT INTO pgbench_history (tid, bid, aid, delta, mtime) VALUES (1, 1, 1, 1, now());') \
    -h 127.0.0.1 -p "$1" -U postgres postgres 2>/dev/null | awk '/latency average/ {print $4}'
}
rtt=$(python3 - <<'PY'
import socket, time
a = socket.socket(); a.bind(("127.0.0.1", 0)); a.listen(1)
c = socket.create_connection(a.getsockname()); s, _ = a.accept()
c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1); s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
n = 2000; t = time.perf_counter()
for _ in range(n):
    c.sendall(b"x"); s.recv(1); s.sendall(b"y"); c.recv(1)
print(f"{(time.perf_counter() - t) / n * 1000:.3f}")
PY
)
set_names "$WALREP_PORT" "standby"
set_names "$PG_PORT" "standby"
w_local=$(latency "$WALREP_PORT" local)
w_on=$(latency "$WALREP_PORT" on)
p_local=$(latency "$PG_PORT" local)
p_on=$(latency "$PG_PORT" on)
printf '\n| single-client commit latency (ms) | walrep | PG15 |\n|---|---|---|\n'
printf '| synchronous_commit = local (the local floor) | %s | %s |\n' "$w_local" "$p_local"
printf '| synchronous_commit = on, one sync standby | %s | %s |\n' "$w_on" "$p_on"
printf '| loopback round trip | %s | %s |\n' "$rtt" "$rtt"
printf '| on / (local + round trip) | %s | %s |\n' \
  "$(python3 -c "print(f'{$w_on / ($w_local + $rtt):.2f}')")" "$(python3 -c "print(f'{$p_on / ($p_local + $rtt):.2f}')")"
