#!/usr/bin/env bash
# DDL churn, as migrations, test suites and temporary-table workloads make it: ROUNDS
# transactions, each creating TABLES tables, adding a column to each and dropping them. Every
# such change leaves dead rows in the system catalog, which autovacuum (default settings on
# both servers) has to keep up with, or the catalog grows and every statement after a DDL reads
# more of it. walrep vs PostgreSQL 15 in the same run: tables per second, and the catalog's size
# at the end (pg_class + pg_attribute heaps).
#   bench/ddl_churn.sh [ROUNDS] [TABLES]   (defaults 300 20)
source "$(dirname "$0")/common.sh"
rounds="${1:-300}"
tables="${2:-20}"
bench_setup
start_both

script="$BENCH_DIR/churn.sql"
for i in $(seq 1 "$tables"); do
  echo "CREATE TABLE churn_$i (a int PRIMARY KEY, b text, c int);"
  echo "ALTER TABLE churn_$i ADD COLUMN d int;"
  echo "DROP TABLE churn_$i;"
done >"$script"
chmod 644 "$script"

measure() {  # PORT: seconds for every round
  local port=$1 start end
  start=$(now)
  for _ in $(seq 1 "$rounds"); do
    "$PGBIN/psql" -X -q -v ON_ERROR_STOP=1 --single-transaction -h 127.0.0.1 -p "$port" \
      -U postgres -f "$script" postgres >/dev/null
  done
  end=$(now)
  python3 -c "print(f'{$end - $start:.3f}')"
}
catalog_kb() {  # PORT
  q "$1" "SELECT (pg_relation_size('pg_class') + pg_relation_size('pg_attribute')) / 1024"
}
w=$(measure "$WALREP_PORT")
p=$(measure "$PG_PORT")
rate_table "DDL churn ($rounds rounds x $tables tables created, altered, dropped)" tables \
  $((rounds * tables)) "$w" "$p"
printf '| catalog at the end (pg_class + pg_attribute, kB) | %s | %s | |\n' \
  "$(catalog_kb "$WALREP_PORT")" "$(catalog_kb "$PG_PORT")"
