"""Print the pins that differ between two requirement files (``make upgrade-check``).

Usage: python requirements/diff_locks.py OLD NEW
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

_PIN = re.compile(r"^([A-Za-z0-9_.-]+)==([^ ;\\]+)(?:\s*;\s*([^\\]+?))?\s*\\?$")


def pins(path: Path) -> dict[str, str]:
    out: dict[str, str] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        m = _PIN.match(line)
        if m:
            key = m[1].lower().replace("_", "-") + (f" ; {m[3].strip()}" if m[3] else "")
            out[key] = m[2]
    return out


def main(old_path: str, new_path: str) -> int:
    old, new = pins(Path(old_path)), pins(Path(new_path))
    changed = [(k, old.get(k, "-"), new.get(k, "-")) for k in sorted(old.keys() | new.keys())]
    changed = [c for c in changed if c[1] != c[2]]
    if not changed:
        print("upgrade-check: the lock already has the newest versions")
    for name, before, after in changed:
        print(f"upgrade-check: {name}: {before} -> {after}")
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:3]))
