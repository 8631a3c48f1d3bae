#!/usr/bin/env python3
"""Fails when a *_test.cc file under tests/ is not built (LevelDB's fault_injection_test lesson).

CMake writes the list of test sources it compiled; every *_test.cc in the tree must be on it.
"""
import sys
from pathlib import Path

root, manifest = Path(sys.argv[1]), Path(sys.argv[2])
registered = {Path(l).resolve() for l in manifest.read_text().split() if l.strip()}
missing = [p for p in sorted((root / "tests").rglob("*_test.cc")) if p.resolve() not in registered]
for p in missing:
    print(f"not built: {p.relative_to(root)}")
print(f"{0 if missing else 1} passed, {1 if missing else 0} failed")
sys.exit(1 if missing else 0)
