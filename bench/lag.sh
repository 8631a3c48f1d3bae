#!/usr/bin/env bash
# Replication lag under load: pgbench TPC-B with one async standby; samples the standby's replay
# lag every 100 ms in bytes (primary flush LSN - standby replay LSN) and in ms (the primary's
# pg_stat_replication.replay_lag). Reports p50/p99/max of both for walrep and PostgreSQL 15.
#   bench/lag.sh [SECONDS] [CLIENTS] [SCALE]   (defaults 60 4 10)
source "$(dirname "$0")/common.sh"
secs="${1:-60}"
clients="${2:-4}"
scale="${3:-10}"
bench_setup
start_both "shared_buffers = 128MB" "synchronous_commit = on" "max_wal_size = 1GB"
make_standbys
start_walrep_standby
start_pg_standby

sample() {  # PRIMARY_PORT STANDBY_PORT OUTFILE: until pgbench ends
  local p=$1 s=$2 out=$3
  : >"$out"
  while [ -e "$BENCH_DIR/running" ]; do
    local lsn
    lsn=$(q "$p" "SELECT pg_current_wal_flush_lsn()")
    local lag_ms
    lag_ms=$(q "$p" "SELECT COALESCE(EXTRACT(EPOCH FROM replay_lag) * 1000, 0) FROM pg_stat_replication")
    local lag_b
    lag_b=$(q "$s" "SELECT GREATEST(pg_wal_lsn_diff('$lsn', pg_last_wal_replay_lsn()), 0)")
    local sent_b
    sent_b=$(q "$s" "SELECT GREATEST(pg_wal_lsn_diff('$lsn', pg_last_wal_receive_lsn()), 0)")
    echo "$lag_b ${lag_ms:-0} $sent_b" >>"$out"
    sleep 0.1
  done
}
stats() {  # FILE COLUMN -> "p50 p99 max"
  awk -v c="$2" '{print $c}' "$1" | sort -g | awk '{a[NR]=$1} END {
    if (!NR) {print "n/a n/a n/a"; exit}
    printf "%.0f %.0f %.0f\n", a[int((NR+1)*0.5)], a[int(NR*0.99) ? int(NR*0.99) : 1], a[NR]}'
}
run() {  # PRIMARY_PORT STANDBY_PORT TAG
  "$PGBIN/pgbench" -i -q -s "$scale" -h 127.0.0.1 -p "$1" -U postgres postgres >/dev/null 2>&1
  wait_replay "$1" "$2"
  touch "$BENCH_DIR/running"
  sample "$1" "$2" "$BENCH_DIR/lag_$3" &
  local sampler=$!
  local tps
  tps=$(pgbench_tps "$1" -c "$clients" -j 2 -T "$secs")
  rm -f "$BENCH_DIR/running"
  wait "$sampler"
  echo "$tps"
}
w_tps=$(run "$WALREP_PORT" "$WALREP_S_PORT" walrep)
p_tps=$(run "$PG_PORT" "$PG_S_PORT" pg)
read -r wb50 wb99 wbmax < <(stats "$BENCH_DIR/lag_walrep" 1)
read -r pb50 pb99 pbmax < <(stats "$BENCH_DIR/lag_pg" 1)
read -r wm50 wm99 wmmax < <(stats "$BENCH_DIR/lag_walrep" 2)
read -r wr50 wr99 wrmax < <(stats "$BENCH_DIR/lag_walrep" 3)
read -r pr50 pr99 prmax < <(stats "$BENCH_DIR/lag_pg" 3)
read -r pm50 pm99 pmmax < <(stats "$BENCH_DIR/lag_pg" 2)
printf '| replay lag, TPC-B -s %s -c %s -T %s, one async standby | walrep | PostgreSQL 15 |\n' "$scale" "$clients" "$secs"
printf '|---|---|---|\n'
printf '| primary TPS | %.1f | %.1f |\n' "$w_tps" "$p_tps"
printf '| lag bytes p50 / p99 / max | %s / %s / %s | %s / %s / %s |\n' "$wb50" "$wb99" "$wbmax" "$pb50" "$pb99" "$pbmax"
printf '| replay_lag ms p50 / p99 / max | %s / %s / %s | %s / %s / %s |\n' "$wm50" "$wm99" "$wmmax" "$pm50" "$pm99" "$pmmax"
printf '| receive lag bytes (not yet fsynced by the standby) p50 / p99 / max | %s / %s / %s | %s / %s / %s |\n' "$wr50" "$wr99" "$wrmax" "$pr50" "$pr99" "$prmax"
