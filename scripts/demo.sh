#!/usr/bin/env bash
# Builds walrep, starts a primary and a streaming hot standby on free local ports (the standby
# cloned with `walrepctl basebackup -R`), runs a small workload, shows pg_stat_replication on
# the primary and the replicated rows on the standby, then prints the psql commands for both.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/setup.sh
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j2 --target walrepd walrepctl

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

psql_bin=psql
[ -x /usr/lib/postgresql/15/bin/psql ] && psql_bin=/usr/lib/postgresql/15/bin/psql

base="${WALREP_DEMO_DIR:-$(mktemp -d /tmp/walrep-demo-XXXXXX)}"
pport="$(free_port)"
sport="$(free_port)"
primary="$base/primary"
standby="$base/standby"
build/bin/walrepctl init -D "$primary" -U postgres >/dev/null
cat >>"$primary/postgresql.conf" <<CONF
port = $pport
listen_addresses = '127.0.0.1'
unix_socket_directories = '$base'
CONF
build/bin/walrepctl start -D "$primary" -l "$base/primary.log"
P=("$psql_bin" -X -h 127.0.0.1 -p "$pport" -U postgres)
S=("$psql_bin" -X -h 127.0.0.1 -p "$sport" -U postgres)

# The standby: a base backup of the running primary, made a standby by -R.
build/bin/walrepctl basebackup -d "host=127.0.0.1 port=$pport user=postgres application_name=standby1" \
  -D "$standby" -R -X stream -c fast -P
cat >>"$standby/postgresql.auto.conf" <<CONF
port = $sport
unix_socket_directories = '$base'
CONF
build/bin/walrepctl start -D "$standby" -l "$base/standby.log"

"${P[@]}" -q <<'SQL'
CREATE TABLE accounts (id int PRIMARY KEY, owner text NOT NULL, balance bigint NOT NULL);
INSERT INTO accounts SELECT g, 'owner ' || g, 100 FROM generate_series(1, 1000) g;
BEGIN;
UPDATE accounts SET balance = balance - 25 WHERE id = 1;
UPDATE accounts SET balance = balance + 25 WHERE id = 2;
COMMIT;
SQL
target="$("${P[@]}" -Atc 'SELECT pg_current_wal_flush_lsn()')"
for _ in $(seq 1 100); do
  [ "$("${S[@]}" -Atc "SELECT pg_wal_lsn_diff(pg_last_wal_replay_lsn(), '$target') >= 0")" = t ] && break
  sleep 0.1
done

echo; echo "== on the primary: pg_stat_replication"
"${P[@]}" -c 'SELECT application_name, state, sent_lsn, replay_lsn, replay_lag, sync_state FROM pg_stat_replication'
echo "== on the standby: the replicated rows (read-only)"
"${S[@]}" -c 'SELECT pg_is_in_recovery(), count(*), sum(balance) FROM accounts' \
          -c 'SELECT * FROM accounts WHERE id IN (1, 2) ORDER BY id'
"${S[@]}" -c "INSERT INTO accounts VALUES (0, 'nobody', 0)" 2>&1 || true

cat <<TXT

walrep is running: a primary and a streaming hot standby (files and logs under $base).
Connect with:
    psql -h 127.0.0.1 -p $pport -U postgres      # primary (read-write)
    psql -h 127.0.0.1 -p $sport -U postgres      # standby (read-only, follows the primary)
Fail over (stop the primary, then promote the standby to a writable primary on timeline 2):
    build/bin/walrepctl stop -D $primary && build/bin/walrepctl promote -D $standby
Stop them with:
    build/bin/walrepctl stop -D $standby
    build/bin/walrepctl stop -D $primary
TXT
