#!/usr/bin/env bash
# Large queries against the streaming executor: walrep and PostgreSQL 15 on the same machine, in
# the same run, with the same settings (work_mem = 4MB). A table of ROWS rows of about 200 bytes;
# for each query the wall time, and the server's memory growth while it runs (private resident
# memory, RssAnon, over its value before the query: walrep's process, PostgreSQL's backend).
# SELECT * also reports the time to the first row (psql with FETCH_COUNT, as a report tool reads).
#   bench/streaming.sh [ROWS]   (default 2000000: a 400 MB table)
source "$(dirname "$0")/common.sh"
rows="${1:-2000000}"
bench_setup
start_both "shared_buffers = 128MB" "max_wal_size = 4GB" "work_mem = 4MB"

# measure PORT PIDFINDER SQL [FETCH_COUNT]: "seconds first_row_seconds rss_growth_mb".
# PIDFINDER prints the PIDs whose memory counts (walrep: the server; PostgreSQL: the backend
# serving this psql, found through pg_stat_activity while the query runs).
measure() {
  python3 - "$@" <<'EOF'
import os, subprocess, sys, time, threading
port, who, sql = sys.argv[1], sys.argv[2], sys.argv[3]
fetch = sys.argv[4] if len(sys.argv) > 4 else ""
def rss(pid):
    try:
        for line in open(f"/proc/{pid}/status"):
            if line.startswith("RssAnon:"):  # private memory: not shared buffers
                return int(line.split()[1])
    except OSError:
        return 0
    return 0
def pids():
    if who.startswith("pid:"):
        return [int(who[4:])]
    out = subprocess.run(["/usr/lib/postgresql/15/bin/psql", "-X", "-A", "-t", "-h", "127.0.0.1",
                          "-p", port, "-U", "postgres", "-d", "postgres", "-c",
                          "SELECT pid FROM pg_stat_activity WHERE application_name = 'bench' "
                          "AND state = 'active'"], capture_output=True, text=True).stdout
    return [int(p) for p in out.split()]
args = ["/usr/lib/postgresql/15/bin/psql", "-X", "-A", "-t", "-h", "127.0.0.1", "-p", port,
        "-U", "postgres", "-d", "postgres", "-c", sql]
if fetch:
    args[1:1] = ["-v", f"FETCH_COUNT={fetch}"]
env = dict(os.environ, PGAPPNAME="bench")
base = {}
peak = [0]
done = threading.Event()
def sample():
    while not done.is_set():
        for p in pids():
            r = rss(p)
            if p not in base:
                base[p] = r
            peak[0] = max(peak[0], r - base[p])
        time.sleep(0.05)
if who.startswith("pid:"):
    base[int(who[4:])] = rss(int(who[4:]))
t0 = time.time()
proc = subprocess.Popen(args, stdout=subprocess.PIPE, env=env)
threading.Thread(target=sample, daemon=True).start()
first = None
for chunk in iter(lambda: proc.stdout.read(65536), b""):
    if first is None:
        first = time.time() - t0
if proc.wait() != 0:
    sys.exit(f"psql failed on port {port}: {sql}")
total = time.time() - t0
done.set()
print(f"{total:.2f} {first if first is not None else total:.2f} {peak[0] / 1024:.0f}")
EOF
}

load() {  # PORT
  q "$1" "CREATE TABLE bulk (id int PRIMARY KEY, grp int, pad text)" >/dev/null
  local t0 t1
  t0=$(now)
  q "$1" "INSERT INTO bulk SELECT g, g % 100000, repeat('x', 180) || (g::bigint * 7919 % $rows) FROM generate_series(1, $rows) g" >/dev/null
  t1=$(now)
  q "$1" "CHECKPOINT" >/dev/null
  q "$1" "SELECT count(*) FROM bulk" >/dev/null  # both caches warm
  python3 -c "print(f'{$t1 - $t0:.2f}')"
}
w_load=$(load "$WALREP_PORT")
p_load=$(load "$PG_PORT")
w_pid="pid:$(head -1 "$BENCH_DIR/walrep/postmaster.pid")"

declare -a names sqls fetches
add() { names+=("$1"); sqls+=("$2"); fetches+=("${3:-}"); }
add "SELECT * to the client (FETCH_COUNT 1000)" "SELECT * FROM bulk" 1000
add "SELECT * to the client (one result)" "SELECT * FROM bulk"
add "ORDER BY a non-indexed column LIMIT 10" "SELECT id FROM bulk ORDER BY pad DESC, id LIMIT 10"
add "full sort, work_mem 4MB" "SELECT count(*) FROM (SELECT * FROM bulk ORDER BY pad) s"
add "GROUP BY a high-cardinality key" "SELECT count(*) FROM (SELECT pad, count(*) FROM bulk GROUP BY pad) s"
add "hash join of the table with itself" "SELECT count(*) FROM bulk a JOIN bulk b ON a.pad = b.pad"
add "COPY bulk TO STDOUT" "COPY bulk TO STDOUT"
add "INSERT ... SELECT of 1 million rows" "CREATE TABLE copy1 AS SELECT 1"

printf '| %s rows of ~200 bytes, work_mem 4MB | walrep s | PG 15 s | PG / walrep | walrep first row s | PG first row s | walrep memory growth MB | PG backend memory growth MB |\n' "$rows"
printf '|---|---|---|---|---|---|---|---|\n'
printf '| load: INSERT ... SELECT generate_series | %s | %s | %s | | | | |\n' "$w_load" "$p_load" \
  "$(python3 -c "print(f'{$p_load / $w_load:.2f}')")"
for i in "${!names[@]}"; do
  sql="${sqls[$i]}"
  if [ "${names[$i]}" = "INSERT ... SELECT of 1 million rows" ]; then
    for port in "$WALREP_PORT" "$PG_PORT"; do
      q "$port" "CREATE TABLE ins (id int, grp int, pad text)" >/dev/null
    done
    sql="INSERT INTO ins SELECT id, grp, pad FROM bulk WHERE id <= 1000000"
  fi
  read -r w_s w_first w_mb < <(measure "$WALREP_PORT" "$w_pid" "$sql" "${fetches[$i]}")
  read -r p_s p_first p_mb < <(measure "$PG_PORT" "pg" "$sql" "${fetches[$i]}")
  printf '| %s | %s | %s | %s | %s | %s | %s | %s |\n' "${names[$i]}" "$w_s" "$p_s" \
    "$(python3 -c "print(f'{$p_s / max($w_s, 0.01):.2f}')")" "$w_first" "$p_first" "$w_mb" "$p_mb"
done
