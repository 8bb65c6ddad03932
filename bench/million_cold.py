"""Server start-up at a million documents with the home's files out of the page cache.

    .venv/bin/python bench/million_cold.py [serve options, e.g. --workers 2 --threads 2]

Evicts only this home's files (``POSIX_FADV_DONTNEED`` on each; other processes' pages
are left alone), starts ``newsdesk serve`` and times ``/api/v1/health`` answering 200
and the first search; then the same again with the files cached by that start.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlencode

from million_data import CACHE
from web_load import QUERIES, KeepAlive, free_port

ROOT = Path(__file__).resolve().parents[1]
HOME = CACHE / "home-use-1000000"


def evict() -> int:
    """Drop the home's files from the page cache; returns their size in bytes."""
    size = 0
    for path in HOME.rglob("*"):
        if path.is_file():
            fd = os.open(path, os.O_RDONLY)
            try:
                os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
                size += path.stat().st_size
            finally:
                os.close(fd)
    return size


def start(extra: list[str]) -> tuple[float, float]:
    """(seconds until healthy, seconds until the first search is answered)."""
    port = free_port()
    started = time.perf_counter()
    server = subprocess.Popen(
        [ROOT / ".venv" / "bin" / "newsdesk", "--home", HOME, "serve", "--port", str(port), *extra],
        env=dict(os.environ, NEWSDESK_EMBEDDER="use-m3"),
        start_new_session=True,
        stderr=subprocess.DEVNULL,
    )
    conn = KeepAlive("127.0.0.1", port)
    try:
        while True:
            if server.poll() is not None:
                raise RuntimeError("the server exited")
            try:
                if conn.get("/api/v1/health")[0] == 200:
                    break
                time.sleep(0.05)
            except (OSError, EOFError):
                conn.close()
                time.sleep(0.05)
        healthy = time.perf_counter() - started
        conn.get("/api/v1/search?" + urlencode({"q": QUERIES[0]}))
        return healthy, time.perf_counter() - started
    finally:
        conn.close()
        os.killpg(server.pid, signal.SIGINT)
        server.wait(timeout=60)


def main() -> int:
    extra = sys.argv[1:]
    mb = evict() // 2**20
    healthy, first = start(extra)
    print(
        f"cold ({mb} MB evicted): healthy {healthy:.1f} s, first answer {first:.1f} s, "
        f"load {os.getloadavg()[0]:.1f}"
    )
    healthy, first = start(extra)
    print(
        f"warm: healthy {healthy:.1f} s, first answer {first:.1f} s, load {os.getloadavg()[0]:.1f}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
