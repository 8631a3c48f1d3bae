#!/usr/bin/env python3
"""Regenerates conf/postgresql.conf.sample from the GUC table in src/common/guc_table.cc.

The sample lists every setting that is not hidden, commented out, with its default as SHOW
prints it, grouped as in the table. tests/unit/common/guc_test.cc checks file and table agree.
"""
import re
import sys
from pathlib import Path

root = Path(__file__).resolve().parent.parent
src = (root / "src/common/guc_table.cc").read_text()
# clang-format may break "Hidden(Report(" or "SuperuserOnly(" onto its own line: join such openings first.
src = re.sub(r"\(\s*\n\s*", "(", src)
groups = dict(re.findall(r'constexpr const char\* (k\w+) = "([^"]*)";', src))

MEM = [("TB", 1024**4), ("GB", 1024**3), ("MB", 1024**2), ("kB", 1024), ("B", 1)]
TIME = [("d", 86400000), ("h", 3600000), ("min", 60000), ("s", 1000), ("ms", 1)]
BASE = {"kBytes": 1, "kKB": 1024, "kMB": 1024**2, "kBlocks": 8192, "kWalBlocks": 8192,
        "kMs": 1, "kS": 1000, "kMin": 60000}


def show(unit, boot):
    v = int(boot)
    if unit == "kNone" or v <= 0:
        return boot
    table = TIME if unit in ("kMs", "kS", "kMin") else MEM
    total = v * BASE[unit]
    for name, f in table:
        if total % f == 0:
            return f"{total // f}{name}"
    return boot


out = ["# walrep configuration file (postgresql.conf)",
       "#",
       "# Same grammar and setting names as PostgreSQL 15: name = value, '#' starts a comment,",
       "# units kB MB GB TB and us ms s min h d. Lines below show each default.",
       "# Settings marked (restart) need a server restart; the others take effect on",
       "# `walrepctl reload` or SELECT pg_reload_conf().",
       ""]
current = None
entry = re.compile(r'^\s*(?:Report\(|Hidden\(|SuperuserOnly\()*'
                   r'([BIRSE])\("([\w.]+)", C::(\w+),(.*)$')
lines = src.splitlines()
i = 0
while i < len(lines):
    line = lines[i]
    m = entry.match(line)
    if not m:
        i += 1
        continue
    # Join continuation lines of this entry.
    text = line
    while text.count("(") > text.count(")") and i + 1 < len(lines):
        i += 1
        text += " " + lines[i].strip()
    i += 1
    m = entry.match(text)
    if "Hidden(" in text.split(m.group(1) + '("')[0]:
        continue
    kind, name, ctx, rest = m.group(1), m.group(2), m.group(3), m.group(4)
    found = list(re.finditer(r'"((?:[^"\\]|\\.)*)"|(U::\w+)|(k[A-Z]\w*)', rest))
    strs = [f.group(1) for f in found if f.group(1) is not None]
    unit = next((f.group(2)[3:] for f in found if f.group(2)), "kNone")
    grp = next((f.group(3) for f in found if f.group(3) and f.group(3) in groups), None)
    if grp is None:
        # A group given as a literal string ("Autovacuum") is the second string argument.
        grp = strs[1] if kind in ("B", "S") and len(strs) > 1 else (strs[-2] if len(strs) > 1 else "")
    boot = strs[0].replace('\\"', '"')
    if kind == "I":
        boot = show(unit, boot)
    if kind in ("S", "E") and (boot == "" or not re.fullmatch(r"[\w.\-]+", boot)):
        boot = "'" + boot.replace("'", "''") + "'"
    group = groups.get(grp, grp or "")
    if group != current:
        out += ["", "#" + "-" * 78, f"# {group.upper()}", "#" + "-" * 78, ""]
        current = group
    note = "  # (restart)" if ctx == "kPostmaster" else ""
    out.append(f"#{name} = {boot}{note}")
text = "\n".join(out) + "\n"
if len(sys.argv) > 1 and sys.argv[1] == "--check":
    sys.exit(0 if (root / "conf/postgresql.conf.sample").read_text() == text else 1)
(root / "conf/postgresql.conf.sample").write_text(text)
