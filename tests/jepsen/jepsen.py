#!/usr/bin/python3
"""walrep's Jepsen-style test: a three-node cluster under faults, two workloads, one checker.

Three walrepd servers (n1 primary, n2 and n3 standbys, synchronous_standby_names =
'ANY 1 (n1, n2, n3)', walrep.sync_commit_lossless = on unless --pg-visibility) run each in its own Linux network namespace on a
bridged virtual network. The clients run in a namespace of their own on the same network and
connect over TCP, so partitions cut them off too; the nemesis administers the nodes through their
Unix sockets, as a DBA on each machine would.

Workloads, run together by client threads:
  bank    transfers between accounts on the primary (the total is invariant); reads of every
          balance on every node must sum to the total.
  append  Elle's list-append: repeatable-read transactions on the primary append unique values
          to keys and read keys; read-only transactions on the standbys read every key.

A nemesis injects a fault every few seconds: kill -9 of the primary followed by a failover
(promotion of the most advanced standby, the other re-pointed, the old primary rewound with
walrepctl rewind and rejoining as a standby), kill -9 of a standby, SIGSTOP of any node, a partition of
the primary from its standbys (healed, or followed by a failover with the old primary fenced, or
by a failover while the old primary keeps serving the clients that still reach it: a split brain
in which it must acknowledge nothing), a partition of the clients from the primary.

The checker then reports: acknowledged writes lost (an acknowledged append missing from the final
state, a bank total that changed), aborted reads (a value of a transaction that definitely
failed), reads that are not a prefix of the key's final list (divergent histories), dependency
cycles among committed transactions (G0/G1c over ww and wr edges, G-single with one rw edge),
long forks (two reads that saw each other's missing writes: incomparable snapshots), and
availability (windows without a successful write). Exit status 1 on any anomaly.

Usage: tests/jepsen/jepsen.py --time SECONDS [--bin build/bin] [--keep] [--seed N]
Requires root (network namespaces, nftables) and python3-psycopg2.
"""

import argparse
import ctypes
import itertools
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

import psycopg2

NODES = ["n1", "n2", "n3"]
ACCOUNTS = 8
INITIAL_BALANCE = 100
KEYS = 8  # keys in use at a time
ROTATE_S = 30  # then the next KEYS keys: a list stays far below a row's 8 KB (walrep has no TOAST)
MAX_ROTATIONS = 1000  # rows created: KEYS * MAX_ROTATIONS (over 8 hours)
SUBNET = "10.78.0"
CLIENT_ADDRESS = f"{SUBNET}.100"
PORT = 5432
LIBC = ctypes.CDLL(None, use_errno=True)
CLONE_NEWNET = 0x40000000


def log(msg):
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def run(argv, check=True, input=None, timeout=120):
    r = subprocess.run(argv, input=input, capture_output=True, text=True, timeout=timeout)
    if check and r.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} failed: {r.stdout}{r.stderr}")
    return r


def enter_namespace(netns):
    """Moves the calling thread (a network namespace is per thread) into `netns`."""
    fd = os.open(f"/var/run/netns/{netns}", os.O_RDONLY)
    try:
        return LIBC.setns(fd, CLONE_NEWNET) == 0
    finally:
        os.close(fd)


class Node:
    def __init__(self, cluster, name, index):
        self.cluster = cluster
        self.name = name
        self.netns = f"{cluster.prefix}{name}"
        self.address = f"{SUBNET}.{index}"
        self.dir = os.path.join(cluster.root, name)
        self.data = os.path.join(self.dir, "data")
        self.sock = os.path.join(self.dir, "sock")
        self.log_path = os.path.join(self.dir, "server.log")
        self.proc = None
        self.stopped = False  # SIGSTOPped
        os.makedirs(self.sock, exist_ok=True)

    def dsn(self, timeout=3):
        return f"host={self.sock} port={PORT} user=postgres dbname=postgres connect_timeout={timeout}"

    def conninfo(self):
        return f"host={self.address} port={PORT} user=postgres connect_timeout=2"

    def client_dsn(self):
        """Over the network from the clients' namespace; a silent peer (partition, SIGSTOP)
        breaks the connection within seconds instead of hanging the client."""
        return (f"{self.conninfo()} dbname=postgres keepalives=1 keepalives_idle=1 "
                "keepalives_interval=1 keepalives_count=3 tcp_user_timeout=4000")

    def conf(self, line, file="postgresql.auto.conf"):
        with open(os.path.join(self.data, file), "a") as f:
            f.write(line + "\n")

    def local_conf(self):
        for line in [f"port = {PORT}", f"unix_socket_directories = '{self.sock}'",
                     f"listen_addresses = '{self.address}'", f"cluster_name = '{self.name}'"]:
            self.conf(line)

    def start(self):
        log_file = open(self.log_path, "a")

        def enter_netns():
            if not enter_namespace(self.netns):
                os._exit(126)

        self.proc = subprocess.Popen([os.path.join(self.cluster.bin, "walrepd"), "-D", self.data],
                                     stdout=log_file, stderr=log_file, preexec_fn=enter_netns)
        self.stopped = False
        deadline = time.time() + 60
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited at start: see {self.log_path}")
            try:
                psycopg2.connect(self.dsn(2)).close()
                return
            except psycopg2.Error:
                time.sleep(0.05)
        raise RuntimeError(f"{self.name} did not start")

    def kill9(self):
        if self.proc and self.proc.poll() is None:
            if self.stopped:
                os.kill(self.proc.pid, signal.SIGCONT)
            self.proc.kill()
            self.proc.wait()
        self.stopped = False

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def query(self, sql, timeout=5):
        conn = psycopg2.connect(self.dsn(timeout))
        try:
            conn.autocommit = True
            with conn.cursor() as c:
                c.execute(sql)
                return c.fetchone()[0] if c.description else None
        finally:
            conn.close()


class Cluster:
    def __init__(self, bin_dir, root, lossless):
        self.bin = bin_dir
        self.lossless = lossless
        self.root = root
        self.prefix = f"wj{os.getpid()}-"
        self.hub = f"{self.prefix}hub"
        self.clients_netns = f"{self.prefix}clients"
        self.nodes = [Node(self, n, i + 1) for i, n in enumerate(NODES)]
        self.primary = self.nodes[0]
        # Addresses each namespace drops packets to ("clients": the clients' namespace).
        self.blocked = {n.name: set() for n in self.nodes}
        self.blocked["clients"] = set()

    # The network: each node's namespace and the clients', a veth into the hub's bridge.
    def create_network(self):
        run(["ip", "netns", "add", self.hub])
        run(["ip", "-n", self.hub, "link", "add", "br0", "type", "bridge"])
        run(["ip", "-n", self.hub, "link", "set", "br0", "up"])
        spaces = [(n.netns, n.address) for n in self.nodes]
        spaces.append((self.clients_netns, CLIENT_ADDRESS))
        for i, (netns, address) in enumerate(spaces):
            peer = f"v{i + 1}"
            run(["ip", "netns", "add", netns])
            run(["ip", "link", "add", "eth0", "netns", netns, "type", "veth", "peer", "name",
                 peer, "netns", self.hub])
            run(["ip", "-n", self.hub, "link", "set", peer, "master", "br0", "up"])
            run(["ip", "-n", netns, "addr", "add", f"{address}/24", "dev", "eth0"])
            run(["ip", "-n", netns, "link", "set", "eth0", "up"])
            run(["ip", "-n", netns, "link", "set", "lo", "up"])

    def apply_rules(self):
        for name, netns in [(n.name, n.netns) for n in self.nodes] + [("clients",
                                                                        self.clients_netns)]:
            rules = "".join(f"    ip daddr {a} drop\n" for a in sorted(self.blocked[name]))
            script = ("flush ruleset\ntable inet walrep {\n  chain out {\n"
                      "    type filter hook output priority 0; policy accept;\n" + rules +
                      "  }\n}\n")
            run(["ip", "netns", "exec", netns, "nft", "-f", "-"], input=script)

    def partition(self, group_a, group_b, clients=False):
        """Cuts every node of group_a from every node of group_b, both ways; with `clients`,
        group_a from the clients too."""
        for a in group_a:
            for b in group_b:
                self.blocked[a.name].add(b.address)
                self.blocked[b.name].add(a.address)
            if clients:
                self.blocked[a.name].add(CLIENT_ADDRESS)
                self.blocked["clients"].add(a.address)
        self.apply_rules()

    def heal(self):
        for blocked in self.blocked.values():
            blocked.clear()
        self.apply_rules()

    def destroy(self):
        for n in self.nodes:
            n.kill9()
        for n in self.nodes:
            run(["ip", "netns", "del", n.netns], check=False)
        run(["ip", "netns", "del", self.clients_netns], check=False)
        run(["ip", "netns", "del", self.hub], check=False)

    def setup(self):
        self.create_network()
        p = self.nodes[0]
        run([os.path.join(self.bin, "walrepctl"), "init", "-D", p.data, "-U", "postgres"])
        p.conf(f"host all all {SUBNET}.0/24 trust", "pg_hba.conf")
        p.conf(f"host replication all {SUBNET}.0/24 trust", "pg_hba.conf")
        for line in ["synchronous_standby_names = 'ANY 1 (n1, n2, n3)'",
                     "synchronous_commit = on", "wal_sender_timeout = 2s",
                     "wal_receiver_timeout = 2s", "wal_retrieve_retry_interval = 200ms",
                     "wal_keep_size = 512MB",
                     "hot_standby_feedback = on"]:
            p.conf(line, "postgresql.conf")
        p.local_conf()
        p.start()
        for sql in ["CREATE TABLE accounts (id int PRIMARY KEY, balance int NOT NULL)",
                    f"INSERT INTO accounts SELECT g, {INITIAL_BALANCE} FROM "
                    f"generate_series(1, {ACCOUNTS}) g",
                    "CREATE TABLE lists (k int PRIMARY KEY, v text NOT NULL)",
                    f"INSERT INTO lists SELECT g, '' FROM generate_series(0, {KEYS * MAX_ROTATIONS - 1}) g"]:
            # The standbys are not there yet: commit without waiting for them.
            conn = psycopg2.connect(p.dsn())
            conn.autocommit = True
            with conn.cursor() as c:
                c.execute("SET synchronous_commit = local")
                c.execute(sql)
            conn.close()
        for s in self.nodes[1:]:
            run(["/usr/lib/postgresql/15/bin/pg_basebackup", "-d", p.dsn(), "-D", s.data,
                 "-X", "stream", "-R", "-c", "fast"])
            s.local_conf()
            s.conf(f"primary_conninfo = '{p.conninfo()}'")
            s.start()
        for s in self.nodes[1:]:
            assert wait_for(lambda: s.query("SELECT count(*) FROM pg_stat_wal_receiver "
                                            "WHERE status = 'streaming'") == 1, 60)
        # Lossless mode once the standbys stream (with none, nothing new would become visible);
        # on every node, since any may become the primary.
        for n in self.nodes:
            n.query("ALTER SYSTEM SET walrep.sync_commit_lossless = "
                    f"{'on' if self.lossless else 'off'}")
            n.query("SELECT pg_reload_conf()")

    def find_primary(self):
        for n in self.nodes:
            if not n.running() or n.stopped:
                continue
            try:
                if n.query("SELECT pg_is_in_recovery()", timeout=2) is False:
                    return n
            except psycopg2.Error:
                pass
        return None


def wait_for(cond, secs):
    deadline = time.time() + secs
    while time.time() < deadline:
        try:
            if cond():
                return True
        except psycopg2.Error:
            pass
        time.sleep(0.1)
    return False


class History:
    """Every operation: its kind, node, result (ok / fail / info) and what it wrote and read.

    Reads are checked as they are added and then kept compact, so that memory does not grow
    with the lists (a first version kept every list read and ran out of 24 GB in 17 minutes):
    each key's longest list read so far is kept, every successful read of the key must be a
    prefix of it or extend it (else the histories diverged: logged at once and kept whole, with
    the key, the node and the times, for diagnosis), and the read is stored as (length, last
    value), which is all the checks at the end need."""

    def __init__(self):
        self.lock = threading.Lock()
        self.started = time.time()
        self.ops = []
        self.faults = []
        self.longest = {}  # key -> the longest list read
        self.divergent = []  # reads that were neither a prefix nor an extension
        self.duplicates = []
        self.row_counts = []  # a key read as zero or several rows (its primary key broken)
        self.logged = set()  # (key, node) whose first divergent read was logged

    def add(self, op):
        with self.lock:
            if op["type"] == "ok":
                if op.get("f") == "txn":
                    for m in op["mops"]:
                        if m[0] == "r":
                            m[2] = self._observe(m[1], m[2], op)
                elif op.get("f") == "read-all":
                    lists = op.pop("lists")
                    seen = [self._observe(k, lists.get(k, []), op)
                            for k in range(op["base"], op["base"] + KEYS)]
                    op["lens"] = tuple(n for n, _ in seen)
                    op["lasts"] = tuple(last for _, last in seen)
            self.ops.append(op)

    def _observe(self, key, values, op):
        chain = self.longest.get(key, [])
        n = min(len(values), len(chain))
        if values[:n] != chain[:n]:
            # Kept whole (these are few), with what they disagreed with, for the report.
            first = next(i for i in range(n) if values[i] != chain[i])
            d = {"key": key, "node": op["node"], "role": op["role"],
                 "start": op["start"], "end": op["end"], "from": first,
                 "read": values[first:first + 20], "longest": chain[first:first + 20]}
            if len(self.divergent) < 10000:
                self.divergent.append(d)
            if (key, op["node"]) not in self.logged:
                # At once, to be read against the nemesis' lines around it.
                self.logged.add((key, op["node"]))
                log(f"divergent read: key {key} on {op['node']} ({op['role']}), "
                    f"{len(values)} values, from index {first}: {d['read'][:5]} where "
                    f"{d['longest'][:5]} was read before")
        elif len(values) > len(chain):
            if len(set(values)) != len(values):
                self.duplicates.append({"key": key, "node": op["node"]})
            self.longest[key] = list(values)
        return (len(values), values[-1] if values else None)

    def row_count(self, op, key, rows):
        with self.lock:
            self.row_counts.append({"key": key, "rows": rows, "node": op["node"],
                                    "role": op["role"], "start": op["start"]})
        log(f"key {key} read as {rows} rows on {op['node']} ({op['role']})")

    def fault(self, kind, start, end, detail=""):
        with self.lock:
            self.faults.append({"kind": kind, "start": start, "end": end, "detail": detail})


# Definite failures: the transaction did not commit (the server said so before COMMIT returned).
DEFINITE = {"40001", "40P01", "23505", "25006", "25P02", "42P01", "55000", "57014"}


def classify(e):
    code = getattr(e, "pgcode", None)
    if code in DEFINITE and not getattr(e, "during_commit", False):
        return "fail"
    return "info"  # the connection broke or the outcome is unknown


class Client(threading.Thread):
    def __init__(self, cluster, history, stop, rng, role, counter):
        super().__init__(daemon=True)
        self.cluster, self.history, self.stop, self.rng = cluster, history, stop, rng
        self.role = role  # "bank", "append", "standby-read"
        self.counter = counter
        self.conn = None
        self.node = None

    def connect(self):
        if self.role == "standby-read":
            candidates = [n for n in self.cluster.nodes if n.running() and not n.stopped]
            self.rng.shuffle(candidates)
            node = candidates[0] if candidates else None
        else:
            node = self.cluster.find_primary()
        if node is None:
            return False
        try:
            self.conn = psycopg2.connect(node.client_dsn())
            self.node = node
            return True
        except psycopg2.Error:
            return False

    def run(self):
        if not enter_namespace(self.cluster.clients_netns):
            raise RuntimeError("could not enter the clients' network namespace")
        while not self.stop.is_set():
            if self.conn is None and not self.connect():
                time.sleep(0.2)
                continue
            op = {"role": self.role, "node": self.node.name, "start": time.time()}
            try:
                getattr(self, self.role.replace("-", "_"))(op)
                op["type"] = "ok"
            except psycopg2.Error as e:
                op["type"] = classify(e)
                op["error"] = (getattr(e, "pgcode", None) or "") + " " + str(e).strip()[:200]
                try:
                    self.conn.close()
                except psycopg2.Error:
                    pass
                self.conn = None
            op["end"] = time.time()
            self.history.add(op)

    def commit(self, cur):
        try:
            cur.execute("COMMIT")
        except psycopg2.Error as e:
            e.during_commit = True  # the outcome of a failed COMMIT is unknown
            raise

    def bank(self, op):
        a, b = self.rng.sample(range(1, ACCOUNTS + 1), 2)
        amount = self.rng.randint(1, 10)
        op.update({"f": "transfer", "from": a, "to": b, "amount": amount})
        self.conn.autocommit = True
        with self.conn.cursor() as c:
            if self.rng.random() < 0.3:
                op["f"] = "read"
                c.execute("SELECT id, balance FROM accounts ORDER BY id")
                op["balances"] = c.fetchall()
                return
            c.execute("BEGIN")
            c.execute("UPDATE accounts SET balance = balance - %s WHERE id = %s AND balance >= %s",
                      (amount, a, amount))
            if c.rowcount == 1:
                c.execute("UPDATE accounts SET balance = balance + %s WHERE id = %s", (amount, b))
            else:
                op["f"] = "transfer-skipped"
            self.commit(c)

    def keys(self):
        """The first of the keys in use now."""
        rotation = int((time.time() - self.history.started) / ROTATE_S) % MAX_ROTATIONS
        return rotation * KEYS

    def append(self, op):
        mops = []
        base = self.keys()
        for _ in range(self.rng.randint(1, 4)):
            k = base + self.rng.randrange(KEYS)
            if self.rng.random() < 0.5:
                mops.append(["append", k, next(self.counter)])
            else:
                mops.append(["r", k, None])
        op.update({"f": "txn", "mops": mops})
        self.conn.autocommit = True
        with self.conn.cursor() as c:
            c.execute("BEGIN ISOLATION LEVEL REPEATABLE READ")
            for m in mops:
                if m[0] == "append":
                    c.execute("UPDATE lists SET v = v || ' ' || %s WHERE k = %s", (str(m[2]), m[1]))
                else:
                    c.execute("SELECT v FROM lists WHERE k = %s", (m[1],))
                    m[2] = [int(x) for x in self.one_row(c, op, m[1]).split()]
            self.commit(c)

    def one_row(self, cur, op, key):
        """The one row of `key` (its primary key): any other count is recorded."""
        rows = cur.fetchall()
        if len(rows) != 1:
            self.history.row_count(op, key, len(rows))
        return rows[0][0] if rows else ""

    def standby_read(self, op):
        op["f"] = "read-all"
        self.conn.autocommit = True
        with self.conn.cursor() as c:
            c.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
            op["base"] = self.keys()
            c.execute("SELECT k, v FROM lists WHERE k >= %s AND k < %s ORDER BY k",
                      (op["base"], op["base"] + KEYS))
            rows = c.fetchall()
            op["lists"] = {k: [int(x) for x in v.split()] for k, v in rows}
            if len(rows) != KEYS or len(op["lists"]) != KEYS:
                self.history.row_count(op, None, len(rows))
            c.execute("SELECT sum(balance), count(*) FROM accounts")
            total, count = c.fetchone()
            op["bank_total"], op["bank_count"] = int(total), int(count)
            c.execute("COMMIT")


class Nemesis(threading.Thread):
    def __init__(self, cluster, history, stop, rng, interval):
        super().__init__(daemon=True)
        self.cluster, self.history, self.stop, self.rng = cluster, history, stop, rng
        self.interval = interval
        self.counts = {}
        self.error = None

    def run(self):
        faults = [self.kill_primary_and_fail_over, self.kill_standby, self.pause_node,
                  self.partition_and_heal, self.partition_and_fail_over,
                  self.fail_over_from_a_running_primary, self.partition_clients]
        try:
            while not self.stop.wait(self.interval):
                f = self.rng.choice(faults)
                start = time.time()
                detail = f()
                self.history.fault(f.__name__, start, time.time(), detail)
                self.counts[f.__name__] = self.counts.get(f.__name__, 0) + 1
                log(f"nemesis: {f.__name__} {detail}")
        except Exception as e:  # a fault that could not be carried out stops the run
            self.error = repr(e)
            log(f"nemesis failed: {e!r}")
            self.stop.set()

    def standbys(self):
        return [n for n in self.cluster.nodes if n is not self.cluster.primary]

    def promote_best(self):
        """Promotes the standby that received most; the other is re-pointed at it."""
        candidates = self.standbys()
        # What a standby received is final only once its walreceiver has seen the stream end:
        # WAL the old primary sent before it died may still be in the socket buffers, and a
        # standby promoted while the other receives more leaves that one on a dead branch.
        for n in candidates:
            if not wait_for(lambda: n.query("SELECT count(*) FROM pg_stat_wal_receiver "
                                            "WHERE status = 'streaming'") == 0, 30):
                raise RuntimeError(f"{n.name} still streams from the old primary")

        def received(n):
            v = n.query("SELECT pg_wal_lsn_diff(pg_last_wal_receive_lsn(), '0/0')")
            return int(v or 0)

        best = max(candidates, key=received)
        # As failover managers do (pg_ctl promote): SELECT pg_promote() would hold a snapshot
        # while it waits, and replay of a pruning record that conflicts with it waits
        # max_standby_streaming_delay (30 s) and then cancels it — in PostgreSQL as here.
        run([os.path.join(self.cluster.bin, "walrepctl"), "promote", "-D", best.data, "-t", "70"],
            timeout=90)
        self.cluster.primary = best
        for n in candidates:
            if n is not best:
                n.query(f"ALTER SYSTEM SET primary_conninfo = '{best.conninfo()}'")
                n.query("SELECT pg_reload_conf()")
        return best

    def rejoin(self, old, best):
        """The old primary (killed or stopped) comes back as a standby of the new one:
        walrepctl rewind recovers it if it was killed, then discards what it wrote that the new
        timeline does not have (as pg_rewind)."""
        r = run([os.path.join(self.cluster.bin, "walrepctl"), "rewind", "-D", old.data,
                 f"--source-server={best.dsn()}", "-R"], check=False)
        if r.returncode != 0 and "same timeline" not in r.stderr:
            raise RuntimeError(f"rewind of {old.name} failed: {r.stderr}")
        open(os.path.join(old.data, "standby.signal"), "w").close()
        old.conf(f"primary_conninfo = '{best.conninfo()}'")
        old.start()
        return f"promoted {best.name}; {old.name} rewound and rejoined"

    def kill_primary_and_fail_over(self):
        old = self.cluster.primary
        old.kill9()
        return self.rejoin(old, self.promote_best())

    def kill_standby(self):
        n = self.rng.choice(self.standbys())
        n.kill9()
        n.start()
        return n.name

    def pause_node(self):
        n = self.rng.choice(self.cluster.nodes)
        os.kill(n.proc.pid, signal.SIGSTOP)
        n.stopped = True
        time.sleep(self.rng.uniform(1, 4))
        os.kill(n.proc.pid, signal.SIGCONT)
        n.stopped = False
        return n.name

    def partition_and_heal(self):
        p = self.cluster.primary
        self.cluster.partition([p], self.standbys())
        time.sleep(self.rng.uniform(1, 5))
        self.cluster.heal()
        return f"{p.name} | others"

    def partition_and_fail_over(self):
        old = self.cluster.primary
        self.cluster.partition([old], self.standbys())
        time.sleep(self.rng.uniform(0.5, 2))
        # A DBA fences the old primary before promoting (STONITH); the network heals before it
        # rejoins.
        old.kill9()
        best = self.promote_best()
        self.cluster.heal()
        return self.rejoin(old, best)

    def fail_over_from_a_running_primary(self):
        """Split brain: the old primary, cut off from its standbys but not from the clients,
        keeps running through the promotion and serves whoever still reaches it (clients
        connected to it, and new ones: until it stops, it is a primary too). With a quorum of
        synchronous standbys it must acknowledge none of their commits. Then it is shut down
        cleanly, as a failover manager would once it can reach it, and rewound."""
        old = self.cluster.primary
        self.cluster.partition([old], self.standbys())
        time.sleep(self.rng.uniform(0.5, 2))
        best = self.promote_best()
        time.sleep(self.rng.uniform(1, 3))
        run([os.path.join(self.cluster.bin, "walrepctl"), "stop", "-D", old.data, "-m", "fast"],
            timeout=90)
        old.proc.wait()
        self.cluster.heal()
        return self.rejoin(old, best) + " (old primary ran through the promotion)"

    def partition_clients(self):
        """The clients lose the primary (and it them) while replication goes on."""
        p = self.cluster.primary
        self.cluster.partition([p], [], clients=True)
        time.sleep(self.rng.uniform(1, 5))
        self.cluster.heal()
        return f"{p.name} | clients"


# ---------------------------------------------------------------------------------------------
# The checker.


def check(history, final_lists, final_bank):
    ok = [o for o in history.ops if o["type"] == "ok"]
    failed = [o for o in history.ops if o["type"] == "fail"]
    anomalies = {}

    def add(kind, what):
        anomalies.setdefault(kind, []).append(what)

    # Bank: every read (a single-statement snapshot, on any node) sums to the total.
    total = ACCOUNTS * INITIAL_BALANCE
    for o in ok:
        if o.get("f") == "read":
            s = sum(b for _, b in o["balances"])
            if s != total or len(o["balances"]) != ACCOUNTS:
                add("bank-wrong-total", {"node": o["node"], "sum": s, "at": o["end"]})
        if o.get("f") == "read-all":
            if o["bank_total"] != total or o["bank_count"] != ACCOUNTS:
                add("bank-wrong-total", {"node": o["node"], "sum": o["bank_total"],
                                         "at": o["end"]})
    for node, (s, count) in final_bank.items():
        if s != total or count != ACCOUNTS:
            add("bank-wrong-total", {"node": node, "sum": s, "final": True})

    # Append: who wrote each value, and whether it committed.
    writer = {}  # value -> op
    for o in history.ops:
        if o.get("f") == "txn":
            for m in o["mops"]:
                if m[0] == "append":
                    writer[m[2]] = o
    final = final_lists  # k -> list (the final primary's)
    final_index = {k: {v: i for i, v in enumerate(vs)} for k, vs in final.items()}
    # Lost writes: an acknowledged append missing from the final state.
    lost = 0
    for o in ok:
        if o.get("f") == "txn":
            for m in o["mops"]:
                if m[0] == "append" and m[2] not in final_index[m[1]]:
                    lost += 1
                    add("lost-write", {"key": m[1], "value": m[2], "node": o["node"]})
    # Every read: a prefix of the final list (else the histories diverged), no duplicates, no
    # value of a failed transaction, one row per key. A read kept as (length, last value) is a
    # prefix of the final list only if the final list has that value at that position. (The
    # online check compares with the longest read so far, which one divergent long read would
    # make wrong for every later one: it gives the details, in history.json, not the count.)
    for o in ok:
        if o.get("f") == "txn":
            reads = [(m[1], m[2]) for m in o["mops"] if m[0] == "r"]
        elif o.get("f") == "read-all":
            reads = [(o["base"] + i, r) for i, r in enumerate(zip(o["lens"], o["lasts"]))]
        else:
            continue
        for k, (n, last) in reads:
            fl = final.get(k, [])
            if n > len(fl) or (last is not None and n > 0 and fl[n - 1] != last):
                add("read-not-prefix-of-final", {"key": k, "length": n, "node": o["node"],
                                                 "role": o["role"],
                                                 "at": round(o["start"] - history.started, 2)})
    for r in history.row_counts:
        add("key-not-one-row", r)
    for d in history.duplicates:
        add("duplicate-append", d)
    failed_values = {m[2] for o in failed if o.get("f") == "txn" for m in o["mops"]
                     if m[0] == "append"}
    for k, chain in history.longest.items():
        for v in chain:
            if v in failed_values:
                add("aborted-read (G1a)", {"key": k, "value": v})
    for k, vs in final.items():
        if len(set(vs)) != len(vs):
            add("duplicate-append", {"key": k, "node": "final"})
    # Dependency graph among committed append transactions (the final order is the version
    # order): ww (next append to the same key), wr (read saw the write), rw (read missed a
    # write that the final order puts after what it saw).
    committed = [o for o in ok if o.get("f") == "txn"]
    ids = {id(o): i for i, o in enumerate(committed)}
    ww_wr = [set() for _ in committed]
    rw = []
    for k, vs in final.items():
        prev = None
        for v in vs:
            w = writer.get(v)
            if w is None or id(w) not in ids:
                prev = None
                continue
            if prev is not None and prev is not w:
                ww_wr[ids[id(prev)]].add(ids[id(w)])
            prev = w
    for o in committed:
        i = ids[id(o)]
        for m in o["mops"]:
            if m[0] != "r":
                continue
            k, (nxt, last) = m[1], m[2]
            if last is not None:
                w = writer.get(last)
                if w is not None and id(w) in ids and w is not o:
                    ww_wr[ids[id(w)]].add(i)
            if nxt < len(final[k]):
                w = writer.get(final[k][nxt])
                if w is not None and id(w) in ids and w is not o:
                    rw.append((i, ids[id(w)]))

    def reaches(src, dst, limit=200000):
        seen, stack = {src}, [src]
        while stack and len(seen) < limit:
            x = stack.pop()
            if x == dst:
                return True
            for y in ww_wr[x]:
                if y not in seen:
                    seen.add(y)
                    stack.append(y)
        return False

    # G0/G1c: a cycle of ww and wr edges (Tarjan's strongly connected components).
    for comp in sccs(len(committed), ww_wr):
        if len(comp) > 1:
            add("G1c (ww/wr cycle)", {"transactions": len(comp)})
    # G-single: a cycle with exactly one rw edge (read skew), forbidden under snapshot isolation.
    for a, b in rw:
        if reaches(b, a):
            add("G-single (one rw edge)", {"reader": committed[a]["node"],
                                           "writer": committed[b]["node"]})
            if len(anomalies["G-single (one rw edge)"]) > 20:
                break
    # Long fork: two snapshots that each saw a write the other missed. Every read-all is a
    # snapshot of all keys: the snapshots must form a chain under "saw at least as much".
    snaps = [(o["base"], o["lens"], o["node"]) for o in ok if o.get("f") == "read-all"]
    snaps.sort(key=lambda s: (s[0], sum(s[1]), s[1]))
    for (base_a, a, na), (base_b, b, nb) in zip(snaps, snaps[1:]):
        if base_a == base_b and any(x > y for x, y in zip(a, b)):
            add("long-fork", {"keys from": base_a, "a": [na, a], "b": [nb, b]})
    return anomalies, lost


def sccs(n, edges):
    index, low, on, stack, out = {}, {}, set(), [], []
    counter = itertools.count()
    for root in range(n):
        if root in index:
            continue
        work = [(root, iter(edges[root]))]
        index[root] = low[root] = next(counter)
        stack.append(root)
        on.add(root)
        while work:
            v, it = work[-1]
            advanced = False
            for w in it:
                if w not in index:
                    index[w] = low[w] = next(counter)
                    stack.append(w)
                    on.add(w)
                    work.append((w, iter(edges[w])))
                    advanced = True
                    break
                if w in on:
                    low[v] = min(low[v], index[w])
            if advanced:
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[v])
            if low[v] == index[v]:
                comp = []
                while True:
                    w = stack.pop()
                    on.discard(w)
                    comp.append(w)
                    if w == v:
                        break
                out.append(comp)
    return out


def availability(history, run_start, run_end):
    """Windows of at least a second without a successful write on the primary."""
    writes = sorted(o["end"] for o in history.ops
                    if o["type"] == "ok" and o["role"] in ("bank", "append"))
    gaps = []
    prev = run_start
    for t in writes + [run_end]:
        if t - prev >= 1.0:
            gaps.append((round(prev - run_start, 1), round(t - prev, 2)))
        prev = t
    return gaps


def read_lists(node):
    conn = psycopg2.connect(node.dsn())
    try:
        with conn.cursor() as c:
            c.execute("SELECT k, v FROM lists ORDER BY k")
            return {k: [int(x) for x in v.split()] for k, v in c.fetchall()}
    finally:
        conn.close()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--time", type=float, default=60)
    ap.add_argument("--bin", default=os.path.join(os.path.dirname(__file__), "../../build/bin"))
    ap.add_argument("--interval", type=float, default=4.0, help="seconds between faults")
    ap.add_argument("--clients", type=int, default=6)
    ap.add_argument("--seed", type=int, default=int(time.time()))
    ap.add_argument("--keep", action="store_true", help="keep the data directories")
    ap.add_argument("--pg-visibility", action="store_true",
                    help="walrep.sync_commit_lossless = off: a commit is visible before a standby "
                         "confirms it, as in PostgreSQL (reads of writes a failover loses)")
    ap.add_argument("--report", help="write the JSON report here")
    args = ap.parse_args()
    rng = random.Random(args.seed)
    root = tempfile.mkdtemp(prefix="walrep-jepsen-")
    cluster = Cluster(os.path.abspath(args.bin), root, not args.pg_visibility)
    history = History()
    stop = threading.Event()
    log(f"seed {args.seed}, {args.time:.0f} s, directory {root}")
    report = {}
    try:
        cluster.setup()
        counter = itertools.count(1)
        roles = ["bank", "append", "standby-read"]
        clients = [Client(cluster, history, stop, random.Random(rng.random()),
                          roles[i % len(roles)], counter) for i in range(args.clients)]
        nemesis = Nemesis(cluster, history, stop, random.Random(rng.random()), args.interval)
        run_start = time.time()
        for c in clients:
            c.start()
        nemesis.start()
        stop.wait(args.time)
        stop.set()
        nemesis.join()
        for c in clients:
            c.join(timeout=120)
        run_end = time.time()
        # Quiesce: the network heals, every node runs, the standbys catch up with the primary.
        cluster.heal()
        for n in cluster.nodes:
            if n.stopped:
                os.kill(n.proc.pid, signal.SIGCONT)
                n.stopped = False
            if not n.running():
                n.start()
        primary = cluster.find_primary()
        assert primary is not None, "no primary at the end"
        target = primary.query("SELECT pg_current_wal_flush_lsn()::text")
        for n in cluster.nodes:
            if n is not primary:
                assert wait_for(lambda: n.query(
                    f"SELECT pg_last_wal_replay_lsn() >= '{target}'") is True, 120), \
                    f"{n.name} did not catch up"
        final_lists = read_lists(primary)
        final_bank = {}
        for n in cluster.nodes:
            final_bank[n.name] = tuple(int(x) for x in n.query(
                "SELECT ARRAY[sum(balance), count(*)] FROM accounts"))
            if read_lists(n) != final_lists:
                history.fault("final-state-differs", run_end, run_end, n.name)
        anomalies, lost = check(history, final_lists, final_bank)
        if any(f["kind"] == "final-state-differs" for f in history.faults):
            anomalies["final-state-differs"] = [f["detail"] for f in history.faults
                                                if f["kind"] == "final-state-differs"]
        if nemesis.error:
            anomalies["nemesis-error"] = [nemesis.error]
        counts = {}
        for o in history.ops:
            key = f"{o['role']}:{o['type']}"
            counts[key] = counts.get(key, 0) + 1
        errors = {}
        for o in history.ops:
            if "error" in o:
                key = f"{o['type']}: {o['error'].splitlines()[0][:90]}"
                errors[key] = errors.get(key, 0) + 1
        gaps = availability(history, run_start, run_end)
        report = {
            "seed": args.seed,
            "seconds": round(run_end - run_start, 1),
            "operations": counts,
            "faults": nemesis.counts,
            "errors": dict(sorted(errors.items(), key=lambda e: -e[1])[:8]),
            "acknowledged_writes_lost": lost,
            "anomalies": {k: len(v) for k, v in anomalies.items()},
            "anomaly_examples": {k: v[:3] for k, v in anomalies.items()},
            "unavailable_windows": {"count": len(gaps),
                                    "longest_s": max((g[1] for g in gaps), default=0),
                                    "total_s": round(sum(g[1] for g in gaps), 1)},
            "appends_in_final_state": sum(len(v) for v in final_lists.values()),
        }
        print(json.dumps(report, indent=2), flush=True)
        if report["anomalies"]:
            # For diagnosis: every operation (reads compacted), the faults with their times, and
            # the divergent reads whole; the servers' logs are in the same directory.
            with open(os.path.join(root, "history.json"), "w") as f:
                json.dump({"started": history.started, "ops": history.ops,
                           "faults": history.faults, "divergent": history.divergent}, f)
        if args.report:
            with open(args.report, "w") as f:
                json.dump(report, f, indent=2)
    finally:
        stop.set()
        cluster.destroy()
        if args.keep or not report or report.get("anomalies"):
            log(f"data and logs kept in {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)
    return 1 if (not report or report["anomalies"] or report["acknowledged_writes_lost"]) else 0


if __name__ == "__main__":
    sys.exit(main())
