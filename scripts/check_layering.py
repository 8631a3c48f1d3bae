#!/usr/bin/env python3
"""Fails when a layer includes a layer above it (shared/DESIGN.md section 2).

Layers, bottom-up: common io wal storage access catalog sql protocol replication server tools.
A layer may include only the layers its row in DESIGN.md lists; the single exception is
replication including sql/registry.h (and session_context.h, the context its views and
functions are called with). server and tools may include everything below them.
"""
import re
import sys
from pathlib import Path

ALLOWED = {
    "common": set(),
    "io": {"common"},
    "wal": {"common", "io"},
    "storage": {"common", "io", "wal"},
    "access": {"common", "io", "wal", "storage"},
    "catalog": {"common", "io", "wal", "storage", "access"},
    "sql": {"common", "io", "wal", "storage", "access", "catalog"},
    "protocol": {"common"},
    "replication": {"common", "io", "wal", "storage", "access", "protocol"},
    "server": {"common", "io", "wal", "storage", "access", "catalog", "sql", "protocol",
               "replication"},
    "tools": {"common", "io", "wal", "storage", "access", "catalog", "sql", "protocol",
              "replication", "server"},
}
INCLUDE = re.compile(r'#include\s*[<"]walrep/([a-z_]+)/([^">]+)[">]')


def main(root):
    root = Path(root)
    bad = []
    for base in (root / "src", root / "include" / "walrep"):
        for layer_dir in sorted(p for p in base.iterdir() if p.is_dir()):
            layer = layer_dir.name
            if layer not in ALLOWED:
                bad.append(f"{layer_dir}: unknown layer folder")
                continue
            for f in sorted(layer_dir.rglob("*")):
                if f.suffix not in (".h", ".cc", ".in"):
                    continue
                for n, line in enumerate(f.read_text().splitlines(), 1):
                    m = INCLUDE.search(line)
                    if not m:
                        continue
                    target, header = m.group(1), m.group(2)
                    if target == layer or target in ALLOWED[layer]:
                        continue
                    if layer == "replication" and target == "sql" and header in (
                            "registry.h", "session_context.h"):
                        continue
                    bad.append(f"{f.relative_to(root)}:{n}: {layer} includes {target}/{header}")
    for b in bad:
        print(b)
    print(f"{0 if bad else 1} passed, {1 if bad else 0} failed")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else "."))
