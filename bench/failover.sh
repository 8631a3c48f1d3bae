#!/usr/bin/env bash
# Failover time and acknowledged commits lost: pgbench TPC-B (plus one row per transaction in
# failover_acks, naming its client) on a primary with one synchronous standby
# (synchronous_commit = on); after a few seconds of load the primary is killed with kill -9,
# the standby promoted with pg_promote(), and the time from the kill to the first committed
# write on the new primary is measured. Lost = transactions pgbench logged as committed whose
# row is missing on the new primary. walrep and PostgreSQL 15 with the same settings, ROUNDS
# fresh pairs each; median and max reported.
#   bench/failover.sh [ROUNDS] [LOAD_SECONDS] [CLIENTS] [SCALE]   (defaults 5 5 4 10)
source "$(dirname "$0")/common.sh"
rounds="${1:-5}"
load_secs="${2:-5}"
clients="${3:-4}"
scale="${4:-10}"
bench_setup

script="$BENCH_DIR/tpcb_acks.sql"
cat >"$script" <<'EOF'
\set aid random(1, 100000 * :scale)
\set bid random(1, 1 * :scale)
\set tid random(1, 10 * :scale)
\set delta random(-5000, 5000)
BEGIN;
UPDATE pgbench_accounts SET abalance = abalance + :delta WHERE aid = :aid;
SELECT abalance FROM pgbench_accounts WHERE aid = :aid;
UPDATE pgbench_tellers SET tbalance = tbalance + :delta WHERE tid = :tid;
UPDATE pgbench_branches SET bbalance = bbalance + :delta WHERE bid = :bid;
INSERT INTO pgbench_history (tid, bid, aid, delta, mtime) VALUES (:tid, :bid, :aid, :delta, CURRENT_TIMESTAMP);
INSERT INTO failover_acks (client) VALUES (:client_id);
END;
EOF
chmod 644 "$script"

# One round against the pair on PRIMARY_PORT/STANDBY_PORT whose primary has PID; prints
# "milliseconds lost".
measure() {
  local pport=$1 sport=$2 ppid=$3
  rm -f "$BENCH_DIR"/acklog.*
  "$PGBIN/pgbench" -n -c "$clients" -j 2 -T 600 -f "$script" -l --log-prefix="$BENCH_DIR/acklog" \
    -h 127.0.0.1 -p "$pport" -U postgres postgres >/dev/null 2>&1 &
  local bench=$!
  sleep "$load_secs"
  /usr/bin/python3 - "$ppid" "$sport" <<'PYEOF'
import os, signal, sys, time
import psycopg2
ppid, sport = int(sys.argv[1]), sys.argv[2]
t0 = time.monotonic()
os.kill(ppid, signal.SIGKILL)
promoted = False
while True:
    try:
        c = psycopg2.connect(host="127.0.0.1", port=sport, user="postgres", dbname="postgres")
        c.autocommit = True
        cur = c.cursor()
        if not promoted:
            cur.execute("SELECT pg_promote(true, 60)")
            promoted = True
        cur.execute("INSERT INTO failover_acks (client) VALUES (-1)")
        break
    except psycopg2.Error:
        time.sleep(0.001)
print(f"{(time.monotonic() - t0) * 1000:.1f}", file=open(os.environ["BENCH_OUT"], "w"))
PYEOF
  wait "$bench" || true
  # Transactions pgbench completed, per client, against the rows the new primary has.
  local lost
  lost=$(/usr/bin/python3 - "$BENCH_DIR" "$sport" <<'PYEOF'
import glob, sys, collections, subprocess
done = collections.Counter()
for f in glob.glob(sys.argv[1] + "/acklog*"):
    for line in open(f):
        parts = line.split()
        if len(parts) >= 3 and parts[2] != "failed" and parts[2] != "skipped":
            done[int(parts[0])] += 1
out = subprocess.run(["/usr/lib/postgresql/15/bin/psql", "-X", "-A", "-t", "-h", "127.0.0.1",
                      "-p", sys.argv[2], "-U", "postgres", "-c",
                      "SELECT client, count(*) FROM failover_acks WHERE client >= 0 GROUP BY client",
                      "postgres"], capture_output=True, text=True).stdout
have = collections.Counter()
for line in out.split():
    c, n = line.split("|")
    have[int(c)] = int(n)
print(sum(max(0, done[c] - have[c]) for c in done))
PYEOF
)
  echo "$(cat "$BENCH_OUT") $lost"
}

export BENCH_OUT="$BENCH_DIR/elapsed"
walrep_times=()
pg_times=()
walrep_lost=0
pg_lost=0
for round in $(seq 1 "$rounds"); do
  start_both "shared_buffers = 128MB" "max_wal_size = 1GB" "wal_receiver_status_interval = 1"
  for port in "$WALREP_PORT" "$PG_PORT"; do
    "$PGBIN/pgbench" -i -q -s "$scale" -h 127.0.0.1 -p "$port" -U postgres postgres >/dev/null 2>&1
    q "$port" "CREATE TABLE failover_acks (client int)" >/dev/null
  done
  make_standbys
  # The standby will be a primary without a standby of its own: it must not wait for one.
  echo "synchronous_standby_names = ''" >>"$BENCH_DIR/walrep_s/postgresql.auto.conf"
  echo "synchronous_standby_names = ''" >>"$BENCH_DIR/pg_s/postgresql.auto.conf"
  start_walrep_standby
  start_pg_standby
  for port in "$WALREP_PORT" "$PG_PORT"; do
    q "$port" "ALTER SYSTEM SET synchronous_standby_names = 'standby'" >/dev/null
    q "$port" "SELECT pg_reload_conf()" >/dev/null
    until [ "$(q "$port" "SELECT sync_state FROM pg_stat_replication")" = sync ]; do sleep 0.05; done
  done
  read -r wt wl < <(measure "$WALREP_PORT" "$WALREP_S_PORT" "$(head -1 "$BENCH_DIR/walrep/postmaster.pid")")
  read -r pt pl < <(measure "$PG_PORT" "$PG_S_PORT" "$(head -1 "$BENCH_DIR/pg/postmaster.pid")")
  walrep_times+=("$wt")
  pg_times+=("$pt")
  walrep_lost=$((walrep_lost + wl))
  pg_lost=$((pg_lost + pl))
  echo "round $round: walrep ${wt} ms (lost $wl), PostgreSQL ${pt} ms (lost $pl)" >&2
  # Next round from scratch.
  "$ROOT/build/bin/walrepctl" stop -D "$BENCH_DIR/walrep_s" -m immediate >/dev/null 2>&1 || true
  su postgres -c "$PGBIN/pg_ctl stop -D $BENCH_DIR/pg_s -m immediate" >/dev/null 2>&1 || true
  rm -rf "$BENCH_DIR/walrep" "$BENCH_DIR/walrep_s" "$BENCH_DIR/pg" "$BENCH_DIR/pg_s"
  WALREP_PORT="$(free_port)"
  PG_PORT="$(free_port)"
done

stats() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {printf "%.1f %.1f\n", a[int((NR+1)/2)], a[NR]}'; }
read -r wmed wmax < <(stats "${walrep_times[@]}")
read -r pmed pmax < <(stats "${pg_times[@]}")
printf '| failover, TPC-B -s %s -c %s, one sync standby, %s rounds | walrep | PG15 | ratio (PG/walrep) |\n' "$scale" "$clients" "$rounds"
printf '|---|---|---|---|\n'
printf '| kill -9 to first committed write on the new primary, median ms | %s | %s | %s |\n' "$wmed" "$pmed" "$(ratio "$pmed" "$wmed")"
printf '| same, max ms | %s | %s | %s |\n' "$wmax" "$pmax" "$(ratio "$pmax" "$wmax")"
printf '| acknowledged commits lost (all rounds) | %s | %s | |\n' "$walrep_lost" "$pg_lost"
