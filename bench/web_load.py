"""Load check of the web UI and JSON API on 127.0.0.1 with >= 30,000 documents.

Builds a corpus at run time from ../shared/data (CCTV 新闻联播 stories and Reuters
newswire; nothing is copied into the repository), ingests it into a scratch home,
starts ``newsdesk serve`` in its own process, then runs N concurrent clients for a
bounded time against the search page and the search API with a rotating set of
Chinese and English queries. Prints requests/s, p50/p99 latency and the error count.

    .venv/bin/python bench/web_load.py --clients 8 --seconds 20
"""

from __future__ import annotations

import argparse
import asyncio
import gzip
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path
from urllib.parse import urlencode

import httpx

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"
QUERIES = [
    "技术主权",
    "芯片",
    "稀土 出口管制",
    "人工智能",
    "新能源汽车",
    "乡村振兴",
    "经济 增长",
    "interest rates",
    "crude oil",
    "grain exports",
    "money supply",
    "trade deficit",
    "央行 降准",
    '"一带一路"',
    "coffee OR cocoa",
    "earnings -loss",
]


def build_corpus(path: Path, target: int) -> int:
    n = 0
    with path.open("w", encoding="utf-8") as out:
        with gzip.open(DATA / "cctv_xwlb" / "xwlb_stories.jsonl.gz", "rt", encoding="utf-8") as f:
            for line in f:
                d = json.loads(line)
                if not d.get("paragraphs"):
                    continue
                row = {
                    "id": d["id"],
                    "title": d["title"],
                    "published_at": d["date"],
                    "source": d.get("source") or "新闻联播",
                    "lang": "zh",
                    "url": d.get("url") or "",
                    "paragraphs": d["paragraphs"],
                }
                out.write(json.dumps(row, ensure_ascii=False) + "\n")
                n += 1
        with gzip.open(
            DATA / "reuters21578" / "reuters21578.jsonl.gz", "rt", encoding="utf-8"
        ) as f:
            for line in f:
                if n >= target:
                    break
                d = json.loads(line)
                body = (d.get("body") or "").strip()
                if not d.get("title") or len(body) < 200:
                    continue
                row = {
                    "id": f"reuters-{d['newid']}",
                    "title": d["title"].title(),
                    "source": "Reuters",
                    "lang": "en",
                    "text": body,
                }
                out.write(json.dumps(row) + "\n")
                n += 1
    return n


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def client(
    base: str, path: str, deadline: float, offset: int, latencies: list[float], errors: list[str]
) -> None:
    async with httpx.AsyncClient(base_url=base, timeout=30.0) as http:
        i = offset
        while time.perf_counter() < deadline:
            q = QUERIES[i % len(QUERIES)]
            i += 1
            start = time.perf_counter()
            try:
                r = await http.get(path, params={"q": q})
                if r.status_code != 200:
                    errors.append(f"{r.status_code} {path}?q={q}")
            except httpx.HTTPError as exc:
                errors.append(f"{type(exc).__name__} {path}?q={q}")
            latencies.append(time.perf_counter() - start)


async def run_load(base: str, path: str, clients: int, seconds: float) -> dict[str, float]:
    latencies: list[float] = []
    errors: list[str] = []
    deadline = time.perf_counter() + seconds
    started = time.perf_counter()
    await asyncio.gather(
        *(client(base, path, deadline, k * 3, latencies, errors) for k in range(clients))
    )
    elapsed = time.perf_counter() - started
    latencies.sort()
    return {
        "requests": len(latencies),
        "rps": len(latencies) / elapsed,
        "p50_ms": statistics.median(latencies) * 1000,
        "p99_ms": latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))] * 1000,
        "errors": len(errors),
    }


class KeepAlive:
    """One HTTP/1.1 keep-alive connection with a minimal parser (GET only).

    A load generator that costs little CPU: the bench's clients share the server's
    cores, and httpx spends several milliseconds per request on them. It reads the
    status line, ``Content-Length`` and the body, and reconnects if the server closes.
    """

    def __init__(self, host: str, port: int, timeout: float = 60.0) -> None:
        self.host, self.port, self.timeout = host, port, timeout
        self.sock: socket.socket | None = None
        self.buf = b""

    def _connect(self) -> socket.socket:
        sock = socket.create_connection((self.host, self.port), timeout=self.timeout)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock, self.buf = sock, b""
        return sock

    def get(self, target: str) -> tuple[int, bytes]:
        """(status, body) of ``GET target`` (path and query, already encoded)."""
        request = f"GET {target} HTTP/1.1\r\nHost: {self.host}\r\n\r\n".encode()
        for attempt in (0, 1):
            sock = self.sock or self._connect()
            try:
                sock.sendall(request)
                return self._response(sock)
            except (ConnectionError, EOFError):
                self.close()
                if attempt:
                    raise
        raise AssertionError("unreachable")

    def _response(self, sock: socket.socket) -> tuple[int, bytes]:
        while b"\r\n\r\n" not in self.buf:
            self._read(sock)
        head, _, self.buf = self.buf.partition(b"\r\n\r\n")
        lines = head.split(b"\r\n")
        status = int(lines[0].split()[1])
        length = 0
        close = False
        for line in lines[1:]:
            name, _, value = line.partition(b":")
            name = name.strip().lower()
            if name == b"content-length":
                length = int(value)
            elif name == b"connection" and value.strip().lower() == b"close":
                close = True
        while len(self.buf) < length:
            self._read(sock)
        body, self.buf = self.buf[:length], self.buf[length:]
        if close:
            self.close()
        return status, body

    def _read(self, sock: socket.socket) -> None:
        chunk = sock.recv(1 << 16)
        if not chunk:
            raise EOFError("the server closed the connection")
        self.buf += chunk

    def close(self) -> None:
        if self.sock is not None:
            self.sock.close()
        self.sock, self.buf = None, b""


def run_keepalive_load(
    host: str, port: int, path: str, clients: int, seconds: float
) -> dict[str, float]:
    """``clients`` threads, each on one keep-alive connection, for ``seconds``.

    Also returns ``client_cpu_ms``: this process's CPU time per request.
    """
    latencies: list[float] = []
    errors: list[str] = []
    targets = [f"{path}?{urlencode({'q': q})}" for q in QUERIES]
    deadline = time.perf_counter() + seconds

    def one(offset: int) -> None:
        conn = KeepAlive(host, port)
        i = offset
        try:
            while time.perf_counter() < deadline:
                target = targets[i % len(targets)]
                i += 1
                start = time.perf_counter()
                try:
                    status, _ = conn.get(target)
                    if status != 200:
                        errors.append(f"{status} {target}")
                except (OSError, EOFError, ValueError) as exc:
                    errors.append(f"{type(exc).__name__} {target}")
                    conn.close()
                latencies.append(time.perf_counter() - start)
        finally:
            conn.close()

    cpu = time.process_time()
    started = time.perf_counter()
    threads = [threading.Thread(target=one, args=(k * 3,)) for k in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - started
    cpu = time.process_time() - cpu
    latencies.sort()
    return {
        "requests": len(latencies),
        "rps": len(latencies) / elapsed,
        "p50_ms": statistics.median(latencies) * 1000,
        "p99_ms": latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))] * 1000,
        "errors": len(errors),
        "client_cpu_ms": cpu / max(1, len(latencies)) * 1000,
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--home", type=Path, default=Path("/tmp/newsdesk-bench-web"))
    ap.add_argument("--documents", type=int, default=30_000)
    ap.add_argument("--clients", type=int, default=8)
    ap.add_argument("--seconds", type=float, default=20.0)
    args = ap.parse_args()
    if not DATA.is_dir():
        print(f"needs the evaluation data in {DATA}", file=sys.stderr)
        return 2
    exe = ROOT / ".venv" / "bin" / "newsdesk"
    home: Path = args.home
    status = subprocess.run(
        [exe, "--home", home, "status", "--json"], capture_output=True, text=True, check=True
    )
    have = json.loads(status.stdout)["documents"]
    if have < args.documents:
        corpus = home.parent / (home.name + "-corpus.jsonl")
        home.mkdir(parents=True, exist_ok=True)
        # A few percent of the shared corpora are exact copies; build a little more.
        n = build_corpus(corpus, int(args.documents * 1.02))
        t = time.perf_counter()
        subprocess.run(
            [exe, "--home", home, "ingest", corpus], check=True, stdout=subprocess.DEVNULL
        )
        print(f"ingested {n} documents in {time.perf_counter() - t:.0f} s", file=sys.stderr)
    docs = json.loads(
        subprocess.run(
            [exe, "--home", home, "status", "--json"], capture_output=True, text=True, check=True
        ).stdout
    )
    port = free_port()
    server = subprocess.Popen(
        [exe, "--home", home, "serve", "--port", str(port)],
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(200):
            try:
                if httpx.get(base + "/api/v1/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.1)
        # Warm caches once per query so the measurement is of steady state.
        for q in QUERIES:
            httpx.get(base + "/api/v1/search", params={"q": q}, timeout=30)
        print(
            f"documents: {docs['documents']}, indexed: {docs['indexed']}, "
            f"clients: {args.clients}, {args.seconds:.0f} s per target, cores: {os.cpu_count()}"
        )
        print("| target | requests | req/s | p50 ms | p99 ms | errors |")
        print("|---|---:|---:|---:|---:|---:|")
        failed = 0
        for path in ("/", "/api/v1/search"):
            m = asyncio.run(run_load(base, path, args.clients, args.seconds))
            failed += int(m["errors"])
            print(
                f"| `{path}?q=…` | {m['requests']:.0f} | {m['rps']:.1f} | {m['p50_ms']:.1f} "
                f"| {m['p99_ms']:.1f} | {m['errors']:.0f} |"
            )
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=20)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
