"""A million documents on one machine: the HNSW graph against the exact scan.

    .venv/bin/python bench/million.py --docs 1000000            (see bench/million.md)

Builds once, and reuses between runs, a home of ``--docs`` documents under the bench
cache (``~/.cache/newsdesk-bench/home-<model>-<docs>``): texts mixed at bench time from
a real subset of ../shared/data, vectors derived from that subset's real embeddings
(bench/million_data.py explains how), all written in bulk (store, tantivy, the vector
files and the graph). Then, side by side in one run:

1. the vector layer in this process: opening the files, recall@10 of the graph
   against the exact scan, and the median time of one semantic search (200 hits,
   as the search asks for), unfiltered and filtered, graph vs exact;
2. ``newsdesk serve`` on 127.0.0.1: the default server, then ``--workers`` N with
   ``--threads`` T for each N of ``--workers`` (and, unless ``--no-baseline``, the
   exact scan, ``ann_threshold = 0``): start-up until ``/api/v1/health`` says ready
   and until the first search is answered, hybrid ``/api/v1/search`` median with
   one client, requests/s with 8 clients (one keep-alive connection per client
   thread, a minimal HTTP client: its CPU per request is reported), the server's
   CPU per request, and its memory as the sum of RSS and of PSS over its processes.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlencode

import numpy as np
from million_data import CACHE, DATA, base_vectors, derive, derived, pairs, real_subset
from web_load import QUERIES, KeepAlive, free_port, run_keepalive_load

from newsdesk import load_settings
from newsdesk.config import Settings
from newsdesk.engine import _DEDUPE_STATE, EMBEDDERS
from newsdesk.index.lexical import LexicalIndex
from newsdesk.index.vectors import NAME, VectorFilter, VectorIndex
from newsdesk.models import Document, Paragraph
from newsdesk.store.sqlite import SQLiteStore

ROOT = Path(__file__).resolve().parents[1]
EMBEDDER = {"use": "use-m3", "e5": "e5-small"}
BASE_N = {"use": 2000, "e5": 1000}
SOURCES = [f"来源{k}" if k % 2 else f"Wire {k}" for k in range(20)]
CATEGORIES = ["economy", "politics", "technology", "society", "world"]
START = datetime(2023, 1, 1, tzinfo=UTC)


def rss_mb(pid: int | str = "self") -> tuple[float, float]:
    """(current, peak) resident memory of a process in MB."""
    out = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            out[key] = int(value.split()[0]) / 1024
    return out.get("VmRSS", 0.0), out.get("VmHWM", 0.0)


def settings_for(home: Path, model: str, threshold: int | None = None) -> Settings:
    env = {"NEWSDESK_EMBEDDER": EMBEDDER[model]}
    if threshold is not None:
        env["NEWSDESK_ANN_THRESHOLD"] = str(threshold)
    return load_settings(home=home, environ=env)


def build(home: Path, n: int, model: str) -> None:
    """Fill the home in bulk (each step resumes where a previous run stopped)."""
    settings = settings_for(home, model)
    home.mkdir(parents=True, exist_ok=True)
    store = SQLiteStore(settings.db_path)
    base_n = BASE_N[model]
    docs = real_subset(base_n)
    vectors = derived(model, base_n, n)
    have = store.max_rev()
    t = time.perf_counter()
    for at in range(have, n, 5000):
        i, j = pairs(base_n, n, 1)  # the same pairs the vectors mix
        with store.transaction():
            for k in range(at, min(n, at + 5000)):
                ti, bi, lang = docs[i[k]]
                tj, bj, _ = docs[j[k]]
                doc = Document(
                    id=f"m{k}",
                    title=f"{ti} {tj[:12]}".strip(),
                    paragraphs=(Paragraph(1, bi[:300]), Paragraph(2, bj[:160])),
                    source=SOURCES[k % len(SOURCES)],
                    published_at=START + timedelta(minutes=k),
                    lang=lang,
                    category=CATEGORIES[k % len(CATEGORIES)],
                    content_hash=f"bench-{k}",
                )
                store.put(doc, minhash=b"", bands=[], summary=None)
        print(f"\rstore {min(n, at + 5000)}/{n} {time.perf_counter() - t:.0f}s", end="", flush=True)
    print()
    assert store.max_rev() == n, "the bench home must be filled by this script alone"
    from newsdesk import dedupe

    store.set_index_state(_DEDUPE_STATE, n, dedupe.PARAMS)
    lexical = LexicalIndex(settings.index_dir, store)
    done = [0]
    t = time.perf_counter()

    def tick(k: int) -> None:
        done[0] += k
        print(f"\rtantivy {done[0]} {time.perf_counter() - t:.0f}s", end="", flush=True)

    lexical.catch_up(tick)
    print()
    embedder = EMBEDDERS[settings.embedder](settings)
    index = VectorIndex(store, embedder, directory=settings.vector_dir)
    state = store.index_state(NAME)
    have = state[0] if state else 0
    for at in range(have, n, 20_000):
        stop = min(n, at + 20_000)
        half = np.asarray(vectors[at:stop], dtype=np.float16)
        store.put_embeddings(
            NAME,
            [(f"m{k}", k + 1, half[k - at].tobytes()) for k in range(at, stop)],
            stop,
            index.params(int(half.shape[1])),
        )
        print(f"\rembeddings {stop}/{n}", end="", flush=True)
    print()
    t = time.perf_counter()
    # The vector files first; the graph may have been built meanwhile in another
    # process from the same derived vectors (keys = row order = document order).
    index.ann_threshold = 0
    index.refresh()
    print(f"vector files {time.perf_counter() - t:.0f}s")
    index.ann_threshold = settings.ann_threshold
    prebuilt = CACHE / f"graph-{model}-{n}.usearch"
    if prebuilt.exists() and not index.uses_graph:
        index.install_graph(prebuilt)
    t = time.perf_counter()
    index.refresh()
    print(f"graph {time.perf_counter() - t:.0f}s, graph: {index.uses_graph}")


def vector_layer(home: Path, model: str, queries: np.ndarray, rounds: int) -> list[str]:
    settings = settings_for(home, model)
    store = SQLiteStore(settings.db_path)
    embedder = EMBEDDERS[settings.embedder](settings)
    before = rss_mb()[0]
    t = time.perf_counter()
    index = VectorIndex(store, embedder, directory=settings.vector_dir)
    index.refresh()
    open_s = time.perf_counter() - t
    opened = rss_mb()[0] - before
    lines = [
        f"vector layer: {len(index)} vectors, opened in {open_s:.2f} s (+{opened:.0f} MB RSS), "
        f"graph: {index.uses_graph}, ef {index.ann_ef}",
        "| search (200 hits) | graph p50 ms | exact p50 ms | exact/graph | recall@10 |",
        "|---|---:|---:|---:|---:|",
    ]
    filters = {
        "no filter": None,
        "lang zh (~50 %)": VectorFilter(langs=("zh",)),
        "one source (5 %)": VectorFilter(sources=(SOURCES[3],)),
        "last 30 days (~4 %)": VectorFilter(
            since_ts=int((START + timedelta(minutes=len(index) - 43_200)).timestamp())
        ),
    }
    for name, flt in filters.items():
        graph_t, exact_t, recalls = [], [], []
        for k, q in enumerate(queries):
            t = time.perf_counter()
            found = index.search(q, 200, flt)
            graph_t.append(time.perf_counter() - t)
            if k < rounds:
                t = time.perf_counter()
                truth = index.search_batch(q[None, :], 200, flt, exact=True)[0]
                exact_t.append(time.perf_counter() - t)
                recalls.append(
                    len({h.id for h in found[:10]} & {h.id for h in truth[:10]})
                    / max(1, min(10, len(truth)))
                )
        g, e = statistics.median(graph_t) * 1000, statistics.median(exact_t) * 1000
        lines.append(f"| {name} | {g:.2f} | {e:.1f} | {e / g:.0f}x | {np.mean(recalls):.3f} |")
    lines.append(f"process RSS after the searches: {rss_mb()[0]:.0f} MB")
    embedding = []
    for q in QUERIES * 2:
        t = time.perf_counter()
        index.embed_query(q)
        embedding.append(time.perf_counter() - t)
    lines.append(
        f"embedding one query with {embedder.id}: p50 "
        f"{statistics.median(embedding[len(QUERIES) :]) * 1000:.0f} ms (model loaded)"
    )
    return lines


def _tree(pid: int) -> list[int]:
    """``pid`` and its descendants (a server's worker processes)."""
    found = [pid]
    for path in Path(f"/proc/{pid}/task").glob("*/children"):
        for child in path.read_text().split():
            found += _tree(int(child))
    return found


def _cpu_seconds(pids: list[int]) -> float:
    total = 0
    for pid in pids:
        with contextlib.suppress(FileNotFoundError):
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])  # utime + stime
    return total / os.sysconf("SC_CLK_TCK")


def memory_mb(pids: list[int]) -> tuple[float, float]:
    """(sum of RSS, sum of PSS) in MB: pages the processes share (the mapped vectors
    and graph) count once in PSS, split between them, and once per process in RSS."""
    rss = pss = 0.0
    for pid in pids:
        with contextlib.suppress(FileNotFoundError):
            rss += rss_mb(pid)[0]
            for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
                if line.startswith("Pss:"):
                    pss += int(line.split()[1]) / 1024
    return rss, pss


SERVER_HEADER = (
    "| server | healthy s | first answer s | hybrid p50 ms (1 client) | req/s ({c} clients) "
    "| p50 ms ({c}) | p99 ms ({c}) | errors | server CPU ms/req ({c}) | client CPU ms/req "
    "| RSS sum MB | PSS sum MB |"
)


def serve(
    home: Path,
    model: str,
    threshold: int | None,
    clients: int,
    seconds: float,
    workers: int = 1,
    threads: int | None = None,
) -> str:
    exe = ROOT / ".venv" / "bin" / "newsdesk"
    port = free_port()
    env = dict(os.environ, NEWSDESK_EMBEDDER=EMBEDDER[model])
    if threshold is not None:
        env["NEWSDESK_ANN_THRESHOLD"] = str(threshold)
    extra = ["--workers", str(workers)] + (["--threads", str(threads)] if threads else [])
    started = time.perf_counter()
    server = subprocess.Popen(
        [exe, "--home", home, "serve", "--port", str(port), *extra],
        stderr=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        env=env,
        start_new_session=True,
    )
    conn = KeepAlive("127.0.0.1", port)
    try:
        # Ready: /health answers 200 (a worker accepts only once warm; one process
        # says 503 until warm). Polled on one connection, so the polls cost little.
        healthy = None
        while healthy is None:
            if server.poll() is not None:
                raise RuntimeError("the server exited")
            try:
                if conn.get("/api/v1/health")[0] == 200:
                    healthy = time.perf_counter() - started
                else:
                    time.sleep(0.05)
            except (OSError, EOFError):
                conn.close()
                time.sleep(0.05)
        status, body = conn.get("/api/v1/search?" + urlencode({"q": QUERIES[0]}))
        assert status == 200, body[:500]
        first = time.perf_counter() - started
        single = []
        # One client keeps its connection, as a browser does.
        for q in QUERIES * (3 if threshold is None else 1):  # the exact scan is slow
            t = time.perf_counter()
            status, body = conn.get("/api/v1/search?" + urlencode({"q": q}))
            single.append(time.perf_counter() - t)
            assert status == 200, body[:500]
            retrieval = json.loads(body)["retrieval"]
            assert retrieval == "hybrid" or q.startswith('"'), retrieval
        conn.close()
        pids = _tree(server.pid)
        cpu = _cpu_seconds(pids)
        load = run_keepalive_load("127.0.0.1", port, "/api/v1/search", clients, seconds)
        server_ms = (_cpu_seconds(pids) - cpu) / max(1, load["requests"]) * 1000
        rss, pss = memory_mb(pids)
    finally:
        conn.close()
        os.killpg(server.pid, signal.SIGINT)  # Ctrl-C: stops every worker
        server.wait(timeout=60)
    name = "graph" if threshold is None else f"exact (ann_threshold={threshold})"
    name += f", {workers} worker{'s' if workers > 1 else ''}"
    name += f", {threads} threads" if threads else ", default threads"
    return (
        f"| {name} | {healthy:.1f} | {first:.1f} | {statistics.median(single) * 1000:.0f} "
        f"| {load['rps']:.1f} | {load['p50_ms']:.0f} | {load['p99_ms']:.0f} | {load['errors']:.0f} "
        f"| {server_ms:.1f} | {load['client_cpu_ms']:.2f} | {rss:.0f} | {pss:.0f} |"
    )


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--docs", type=int, default=1_000_000)
    ap.add_argument(
        "--model", choices=sorted(EMBEDDER), default="use", help="use: 512 dims, e5: 384"
    )
    ap.add_argument("--queries", type=int, default=200, help="query vectors for the vector layer")
    ap.add_argument("--exact-rounds", type=int, default=30, help="of those, also scanned exactly")
    ap.add_argument("--clients", type=int, default=8)
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument("--build-only", action="store_true")
    ap.add_argument("--no-server", action="store_true")
    ap.add_argument("--no-baseline", action="store_true", help="skip the exact-scan server")
    ap.add_argument("--no-vector-layer", action="store_true", help="only the servers")
    ap.add_argument(
        "--workers",
        default="1,2",
        help="server processes to measure, comma-separated (after the default server)",
    )
    ap.add_argument("--threads", type=int, default=2, help="request threads per process")
    args = ap.parse_args()
    if not DATA.is_dir():
        print(f"needs the evaluation data in {DATA}", file=sys.stderr)
        return 2
    home = CACHE / f"home-{args.model}-{args.docs}"
    build(home, args.docs, args.model)
    if args.build_only:
        return 0
    queries = derive(base_vectors(args.model, BASE_N[args.model]), args.queries, seed=999)
    print(
        f"documents: {args.docs}, model: {EMBEDDER[args.model]}, cores: {os.cpu_count()}, "
        f"load average at start: {os.getloadavg()[0]:.1f}"
    )
    if not args.no_vector_layer:
        for line in vector_layer(home, args.model, queries, args.exact_rounds):
            print(line, flush=True)
    if args.no_server:
        return 0
    print(SERVER_HEADER.format(c=args.clients))
    print("|---|" + "---:|" * 11)
    # The product's default first (one process, anyio's 40 threads), then each count.
    configs = [(1, None)] + [(int(w), args.threads) for w in args.workers.split(",") if w]
    for workers, threads in configs:
        before = os.getloadavg()[0]  # the 1-minute average: it lags the row before
        row = serve(home, args.model, None, args.clients, args.seconds, workers, threads)
        print(f"{row} load before {before:.1f}, after {os.getloadavg()[0]:.1f}", flush=True)
    if not args.no_baseline:
        print(serve(home, args.model, 0, args.clients, args.seconds), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
