#!/usr/bin/env bash
# Builds walrep, initialises a data directory and starts a server on a free local port,
# then prints the psql command to connect. Stop it with the printed walrepctl command.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/setup.sh
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j2 --target walrepd walrepctl

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

base="${WALREP_DEMO_DIR:-$(mktemp -d /tmp/walrep-demo-XXXXXX)}"
port="$(free_port)"
primary="$base/primary"
build/bin/walrepctl init -D "$primary" -U postgres >/dev/null
cat >>"$primary/postgresql.conf" <<CONF
port = $port
listen_addresses = '127.0.0.1'
unix_socket_directories = '$base'
CONF
build/bin/walrepctl start -D "$primary" -l "$base/primary.log"

psql_bin=psql
[ -x /usr/lib/postgresql/15/bin/psql ] && psql_bin=/usr/lib/postgresql/15/bin/psql
"$psql_bin" -h 127.0.0.1 -p "$port" -U postgres -X -c 'select version()'

cat <<TXT

walrep is running (data directory $primary, log $base/primary.log).
Connect with:
    psql -h 127.0.0.1 -p $port -U postgres
    psql -h $base -p $port -U postgres          # Unix socket
Stop it with:
    build/bin/walrepctl stop -D $primary
TXT
