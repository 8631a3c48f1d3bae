#!/usr/bin/env python3
"""Writes the fuzz targets' seed corpora into tests/fuzz/corpus/<target>/ (committed).

Sources: the real PostgreSQL 15 traffic captures in ../shared/reference/captures (each client's
byte stream of a TCP connection for `frontend`, its Query messages for `sql` and
`replication_command`), the SQL the tests run, walrep's configuration sample, and WAL written by
a walrep server built in build/ (`wal_segment`). Usage: scripts/fuzz_seeds.py [captures-dir]
"""
import glob
import hashlib
import os
import re
import struct
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CORPUS = os.path.join(ROOT, "tests", "fuzz", "corpus")


def put(target, data):
    if isinstance(data, str):
        data = data.encode()
    d = os.path.join(CORPUS, target)
    os.makedirs(d, exist_ok=True)
    name = hashlib.sha1(data).hexdigest()[:16]
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def client_streams(pcap):
    """Each TCP connection's client-to-server bytes (the side that connected: SYN without ACK)."""
    with open(pcap, "rb") as f:
        raw = f.read()
    magic = struct.unpack("<I", raw[:4])[0]
    endian = "<" if magic in (0xA1B2C3D4, 0xA1B23C4D) else ">"
    linktype = struct.unpack(endian + "I", raw[20:24])[0]
    pos = 24
    servers, streams = {}, {}
    while pos + 16 <= len(raw):
        _, _, incl, _ = struct.unpack(endian + "IIII", raw[pos:pos + 16])
        pkt = raw[pos + 16:pos + 16 + incl]
        pos += 16 + incl
        if linktype == 1:
            eth = struct.unpack(">H", pkt[12:14])[0]
            pkt = pkt[14:]
        elif linktype == 113:
            eth = struct.unpack(">H", pkt[14:16])[0]
            pkt = pkt[16:]
        elif linktype == 0:
            eth = 0x0800 if struct.unpack("<I", pkt[:4])[0] == 2 else 0x86DD
            pkt = pkt[4:]
        else:
            return []
        if eth == 0x0800:
            ihl = (pkt[0] & 15) * 4
            if pkt[9] != 6:
                continue
            src, dst, tcp = pkt[12:16], pkt[16:20], pkt[ihl:]
        elif eth == 0x86DD:
            if pkt[6] != 6:
                continue
            src, dst, tcp = pkt[8:24], pkt[24:40], pkt[40:]
        else:
            continue
        sport, dport = struct.unpack(">HH", tcp[:4])
        flags = tcp[13]
        payload = tcp[(tcp[12] >> 4) * 4:]
        a, b = (src, sport), (dst, dport)
        key = tuple(sorted([a, b]))
        if flags & 0x02 and not flags & 0x10:  # SYN: a is the client
            servers[key] = b
            streams[key] = bytearray()
        if key in servers and b == servers[key] and payload:
            streams[key] += payload
    return [bytes(s) for s in streams.values() if s]


def queries(stream):
    """The Query ('Q') messages after the startup packet."""
    out = []
    if len(stream) < 8:
        return out
    n = struct.unpack(">I", stream[:4])[0]
    code = struct.unpack(">I", stream[4:8])[0]
    pos = n
    if code == 80877103:  # SSLRequest first
        pos = 8
        if len(stream) >= pos + 4:
            pos += struct.unpack(">I", stream[pos:pos + 4])[0]
    while pos + 5 <= len(stream):
        t = stream[pos:pos + 1]
        ln = struct.unpack(">I", stream[pos + 1:pos + 5])[0]
        body = stream[pos + 5:pos + 1 + ln]
        if t == b"Q":
            out.append(body.rstrip(b"\0"))
        pos += 1 + ln
    return out


def test_sql():
    """String literals that look like SQL in the tests."""
    pat = re.compile(r'(?:Run|SafePsql|Query|Psql|Exec)\(\s*((?:"(?:[^"\\]|\\.)*"\s*)+)')
    for path in glob.glob(os.path.join(ROOT, "tests", "**", "*.cc"), recursive=True):
        text = open(path, encoding="utf-8").read()
        for m in pat.finditer(text):
            parts = re.findall(r'"((?:[^"\\]|\\.)*)"', m.group(1))
            s = "".join(parts)
            s = s.encode().decode("unicode_escape", errors="ignore")
            if re.match(r"\s*(select|insert|update|delete|create|alter|drop|with|begin|copy|"
                        r"explain|show|set|values|table|prepare|declare|truncate|comment)",
                        s, re.I):
                yield s


def main():
    captures = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
        ROOT, "..", "shared", "reference", "captures")
    for pcap in sorted(glob.glob(os.path.join(captures, "*.pcap"))):
        for s in client_streams(pcap):
            put("frontend", s[:65536])
            for q in queries(s):
                text = q.decode(errors="replace")
                word = text.split(None, 1)[0].upper() if text.split() else ""
                if word in ("IDENTIFY_SYSTEM", "START_REPLICATION", "BASE_BACKUP", "TIMELINE_HISTORY",
                            "CREATE_REPLICATION_SLOT", "DROP_REPLICATION_SLOT",
                            "READ_REPLICATION_SLOT", "SHOW"):
                    put("replication_command", q)
                if word not in ("IDENTIFY_SYSTEM", "START_REPLICATION", "BASE_BACKUP",
                                "TIMELINE_HISTORY"):
                    put("sql", q)
    for s in test_sql():
        put("sql", s)
    for c in ["IDENTIFY_SYSTEM", "START_REPLICATION SLOT s PHYSICAL 0/3000000 TIMELINE 2",
              "START_REPLICATION 0/0", "TIMELINE_HISTORY 2",
              "BASE_BACKUP (LABEL 'x', PROGRESS, CHECKPOINT 'fast', WAL true, WAIT false, "
              "MANIFEST 'yes', MANIFEST_CHECKSUMS 'SHA256', TABLESPACE_MAP, MAX_RATE 32768)",
              "BASE_BACKUP LABEL 'old' PROGRESS FAST WAL NOWAIT",
              "CREATE_REPLICATION_SLOT s TEMPORARY PHYSICAL (RESERVE_WAL)",
              "CREATE_REPLICATION_SLOT \"S\" PHYSICAL RESERVE_WAL", "DROP_REPLICATION_SLOT s WAIT",
              "READ_REPLICATION_SLOT s", "SHOW wal_segment_size", "SELECT 1"]:
        put("replication_command", c)
    put("postgresql_conf", open(os.path.join(ROOT, "conf", "postgresql.conf.sample")).read())
    for c in ["port = 5433\nshared_buffers = '128MB'\nwork_mem = 4MB # c\n",
              "listen_addresses='*'\nsynchronous_standby_names = 'ANY 2 (\"s 1\", s2, *)'\n",
              "include_if_exists 'x.conf'\ninclude_dir 'conf.d'\ninclude 'other.conf'\n",
              "wal_keep_size = 1GB\ncheckpoint_timeout = 5min\nlog_line_prefix = '%m [%p] '\n",
              "primary_conninfo = 'host=a port=1 password=''x'''\nrecovery_target_lsn='0/3000000'\n",
              "archive_command = 'cp %p /a/%f'\nstatement_timeout = -1\nsearch_path = '\"$user\", "
              "public'\n"]:
        put("postgresql_conf", c)
    for c in ["local all all trust\nhost all all 127.0.0.1/32 trust\nhost all all ::1/128 "
              "trust\nlocal replication all trust\nhost replication all 127.0.0.1/32 trust\n",
              "hostssl replication rep 10.0.0.0/8 scram-sha-256\nhost all +admins samehost md5\n"
              "host \"db\",postgres all 192.168.1.0 255.255.255.0 password\n",
              "hostnossl all all 0.0.0.0/0 reject\nhost all all all cert clientcert=verify-full\n"]:
        put("pg_hba", c)
    for c in ["START WAL LOCATION: 0/2000028 (file 000000010000000000000002)\nCHECKPOINT "
              "LOCATION: 0/2000060\nBACKUP METHOD: streamed\nBACKUP FROM: primary\nSTART TIME: "
              "2026-12-05 10:00:00 UTC\nLABEL: x\nSTART TIMELINE: 1\n",
              "START WAL LOCATION: 0/1046438 (file 000000010000000000000001)\nCHECKPOINT "
              "LOCATION: 0/1046470\nBACKUP METHOD: pg_rewind\nBACKUP FROM: standby\n"]:
        put("backup_label", c)
    for c in ["\x021\t0/2000000\tno recovery target specified\n",
              "\x031\t0/2000000\tno recovery target specified\n2\t0/30000A0\tat restore point "
              "\"r\"\n", "\x02# comment\n\n1\t0/0\tx\n"]:
        put("history_file", c)

    def msg(side, body):
        return bytes([side]) + struct.pack(">H", len(body)) + body
    reply = b"r" + struct.pack(">QQQqB", 0x3000100, 0x3000080, 0x3000000, 1000, 1)
    feedback = b"h" + struct.pack(">qIIII", 1000, 740, 0, 0, 0)
    xlogdata = b"w" + struct.pack(">QQq", 0x3000000, 0x3000100, 1000) + b"\0" * 64
    keepalive = b"k" + struct.pack(">QqB", 0x3000100, 1000, 1)
    put("stream_messages", msg(0, reply) + msg(1, xlogdata) + msg(0x10, feedback) +
        msg(0x21, keepalive) + msg(2, b"c"))
    put("stream_messages", msg(1, xlogdata) + msg(1, xlogdata[:-8]) + msg(0, reply))
    put("stream_messages", msg(0, b"X") + msg(1, b"k"))

    with tempfile.TemporaryDirectory() as tmp:
        bindir = os.path.join(ROOT, "build", "bin")
        data = os.path.join(tmp, "data")
        subprocess.run([os.path.join(bindir, "walrepctl"), "init", "-D", data], check=True,
                       stdout=subprocess.DEVNULL)
        with open(os.path.join(data, "postgresql.conf"), "a") as f:
            f.write("port = 5697\nlisten_addresses = ''\nunix_socket_directories = '%s'\n" % tmp)
        subprocess.run([os.path.join(bindir, "walrepctl"), "start", "-w", "-D", data, "-l",
                        os.path.join(tmp, "log")], check=True, stdout=subprocess.DEVNULL)
        sql = ("CREATE TABLE t (id int PRIMARY KEY, v text); INSERT INTO t SELECT g, repeat('x', g) "
               "FROM generate_series(1, 300) g; UPDATE t SET v = 'y' WHERE id % 3 = 0; DELETE FROM "
               "t WHERE id % 5 = 0; CREATE SEQUENCE s; SELECT nextval('s'); TRUNCATE t;")
        subprocess.run(["psql", "-X", "-q", "-h", tmp, "-p", "5697", "-d", "postgres", "-c", sql],
                       check=True, stdout=subprocess.DEVNULL)
        subprocess.run([os.path.join(bindir, "walrepctl"), "stop", "-D", data], check=True,
                       stdout=subprocess.DEVNULL)
        wal = sorted(glob.glob(os.path.join(data, "pg_wal", "0000000100000000000000*")))
        seg = open(wal[0], "rb").read()
        for n in (8192, 24576, 65536):
            put("wal_segment", seg[:n])
        put("wal_segment", seg[:40] + seg[0x46000:0x46000 + 16384])


if __name__ == "__main__":
    main()
