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
2. ``newsdesk serve`` on 127.0.0.1 with the defaults (graph) and with
   ``ann_threshold = 0`` (exact scan, the baseline): start-up until the first
   search is answered, hybrid ``/api/v1/search`` median with one client,
   requests/s with 8 clients, and the server's resident memory.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import numpy as np
from million_data import CACHE, DATA, base_vectors, derive, derived, pairs, real_subset
from web_load import QUERIES, free_port, run_load

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


def serve(home: Path, model: str, threshold: int | None, clients: int, seconds: float) -> str:
    exe = ROOT / ".venv" / "bin" / "newsdesk"
    port = free_port()
    env = dict(os.environ, NEWSDESK_EMBEDDER=EMBEDDER[model])
    if threshold is not None:
        env["NEWSDESK_ANN_THRESHOLD"] = str(threshold)
    base = f"http://127.0.0.1:{port}"
    started = time.perf_counter()
    server = subprocess.Popen(
        [exe, "--home", home, "serve", "--port", str(port)],
        stderr=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        env=env,
        start_new_session=True,
    )
    try:
        ready = None
        while ready is None:
            if server.poll() is not None:
                raise RuntimeError("the server exited")
            try:
                r = httpx.get(base + "/api/v1/search", params={"q": QUERIES[0]}, timeout=60)
                if r.status_code == 200:
                    ready = time.perf_counter() - started
            except httpx.HTTPError:
                time.sleep(0.1)
        single = []
        # One client keeps its connection, as a browser does (a new httpx client per
        # request costs several milliseconds on the client side alone).
        with httpx.Client(base_url=base, timeout=120) as client:
            for q in QUERIES * (3 if threshold is None else 1):  # the exact scan is slow
                t = time.perf_counter()
                r = client.get("/api/v1/search", params={"q": q})
                single.append(time.perf_counter() - t)
                assert r.status_code == 200, r.text
                retrieval = r.json()["retrieval"]
                assert retrieval == "hybrid" or q.startswith('"'), retrieval
        load = asyncio.run(run_load(base, "/api/v1/search", clients, seconds))
        rss, peak = rss_mb(server.pid)
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)
    name = "graph (default)" if threshold is None else f"exact (ann_threshold={threshold})"
    return (
        f"| {name} | {ready:.1f} | {statistics.median(single) * 1000:.0f} | {load['rps']:.1f} "
        f"| {load['p50_ms']:.0f} | {load['errors']:.0f} | {rss:.0f} / {peak:.0f} |"
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
    for line in vector_layer(home, args.model, queries, args.exact_rounds):
        print(line, flush=True)
    if args.no_server:
        return 0
    print(
        "| server | start-up to first answer s | hybrid p50 ms (1 client) "
        f"| req/s ({args.clients} clients) | p50 ms ({args.clients}) | errors | RSS / peak MB |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|")
    print(serve(home, args.model, None, args.clients, args.seconds), flush=True)
    if not args.no_baseline:
        print(serve(home, args.model, 0, args.clients, args.seconds), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
