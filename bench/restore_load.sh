#!/usr/bin/env bash
# A restore-style load, as pg_restore --single-transaction or a migration runs it: in ONE
# transaction, TABLES tables are created, each with a serial key, and ROWS rows inserted into
# each through the serial default (nextval() per row). Every lookup such a transaction makes
# reads the catalog as it changed it; walrep vs PostgreSQL 15 in the same run, rows per second.
#   bench/restore_load.sh [TABLES] [ROWS]   (defaults 20 20000)
source "$(dirname "$0")/common.sh"
tables="${1:-20}"
rows="${2:-20000}"
bench_setup
start_both "shared_buffers = 128MB" "max_wal_size = 4GB"

script="$BENCH_DIR/restore.sql"
for i in $(seq 1 "$tables"); do
  echo "CREATE TABLE load_$i (id serial PRIMARY KEY, v int, note text);"
  echo "INSERT INTO load_$i (v, note) SELECT g, 'row ' || g FROM generate_series(1, $rows) g;"
done >"$script"
chmod 644 "$script"

measure() {  # PORT: seconds for the whole transaction
  local port=$1 start end
  start=$(now)
  "$PGBIN/psql" -X -q -v ON_ERROR_STOP=1 --single-transaction -h 127.0.0.1 -p "$port" \
    -U postgres -f "$script" postgres >/dev/null
  end=$(now)
  python3 -c "print(f'{$end - $start:.3f}')"
  [ "$(q "$port" "SELECT count(*) FROM load_$tables")" = "$rows" ]
}
w=$(measure "$WALREP_PORT")
p=$(measure "$PG_PORT")
rate_table "restore-style load ($tables tables x $rows rows, one transaction)" rows \
  $((tables * rows)) "$w" "$p"
