"""Local (tantivy + numpy) vs OpenSearch at 100,000 documents, side by side in one run.

The home is the one ``bench/search_latency.py --build-only`` builds (100k documents
from the shared corpora, their vectors in the store). This bench then measures, for
both index backends over that same store:

- indexing: rebuilding the index from the store, documents per second (local: the
  tantivy index; its vectors need no index and are loaded when an engine opens;
  OpenSearch: words, English sub-fields and lucene HNSW vectors, bulk into a new
  index and the alias swapped);
- latency, one client: ``Engine.search`` end to end, lexical and hybrid, p50/p99;
  for OpenSearch also the neural-search ``hybrid`` query (fusion in the cluster)
  beside client-side fusion, both for retrieval only (no documents loaded);
- throughput: 8 client threads in one process (as ``newsdesk serve`` runs them, BLAS
  single-threaded), hybrid and lexical searches per second;
- memory: the searching process's RSS, and for OpenSearch the node's RSS and the
  index's size on disk.

Each backend is measured in a child process of its own (so its memory is its own),
one after the other, on the same machine, in the same run.

Vectors: ``--embedder use-m3`` (the default embedder) needs the home's documents
embedded beforehand (``search_latency.py`` does it: ~64k distinct texts, about 16
minutes on two idle cores). ``--embedder hashing512`` embeds every document here
with the deterministic hashing embedder at USE-m3's width (512), through the normal
``VectorIndex`` catch-up: the vectors mean nothing, but the index and search work is
the same size; its query embedding is cheaper than USE-m3's (~2 ms).

    .venv/bin/python bench/opensearch_latency.py --home /tmp/newsdesk-bench --url URL
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import numpy as np
from threadpoolctl import threadpool_limits

sys.path.insert(0, str(Path(__file__).resolve().parent))
from search_latency import queries

from newsdesk import SearchRequest, load_settings, open_engine
from newsdesk import engine as engine_module
from newsdesk.config import Settings
from newsdesk.embed.hashing import HashingEmbedder
from newsdesk.engine import Engine
from newsdesk.index.opensearch import (
    OpenSearchLexical,
    OpenSearchVectors,
    hybrid_pipeline,
    neural_hybrid,
    put_pipeline,
)
from newsdesk.search import parse_request

ALIAS = "nd-bench"
PIPELINE = "nd-bench-hybrid"
# A bench-only embedder: the test embedder at USE-m3's width (see the docstring).
engine_module.EMBEDDERS["hashing512"] = lambda s: HashingEmbedder(512)


def settings_for(backend: str, home: Path, url: str, embedder: str) -> Settings:
    env: dict[str, str] = {"NEWSDESK_EMBEDDER": embedder}
    if backend == "opensearch":
        env |= {
            "NEWSDESK_INDEX_BACKEND": "opensearch",
            "NEWSDESK_OPENSEARCH_URL": url,
            "NEWSDESK_OPENSEARCH_INDEX": ALIAS,
            "NEWSDESK_OPENSEARCH_REPLICAS": "0",
            "NEWSDESK_OPENSEARCH_TIMEOUT": "120",
        }
    return load_settings(home=home, environ=env)


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def stats(values: list[float]) -> dict[str, float]:
    arr = np.asarray(values) * 1000
    return {
        "p50_ms": round(float(np.percentile(arr, 50)), 2),
        "p99_ms": round(float(np.percentile(arr, 99)), 2),
        "mean_ms": round(statistics.fmean(arr), 2),
        "n": len(values),
    }


def neural_retrieval(engine: Engine, text: str) -> None:
    """The neural-search hybrid query with the same three lists (BM25, query vector,
    feedback vector) that client-side fusion uses."""
    lexical, vectors = engine.lexical, engine.searcher.vectors
    assert isinstance(lexical, OpenSearchLexical) and isinstance(vectors, OpenSearchVectors)
    request = SearchRequest(query=text, mode="hybrid")
    parsed = parse_request(request)
    if parsed.lexical.empty:
        return
    qvec = vectors.embed_query(parsed.semantic_text)
    limit = engine.searcher.policy.max_relevant
    top = [(h.id, h.score) for h in lexical.search(parsed.lexical, limit)]
    moved = engine.searcher._feedback_vector(vectors, qvec, parsed.semantic_text, top)
    rows = np.stack([qvec] if moved is None else [qvec, moved])
    # The pipeline's weights must match the number of sub-queries (2 or 3).
    pipeline = f"{PIPELINE}-{1 + rows.shape[0]}"
    neural_hybrid(lexical, vectors, parsed.lexical, rows, limit, pipeline)


def client_retrieval(engine: Engine, text: str) -> None:
    request = SearchRequest(query=text, mode="hybrid")
    engine.searcher.rank(engine.searcher.candidates(request))


def throughput(engine: Engine, qs: list[str], clients: int, seconds: float, mode: str) -> float:
    counts = [0] * clients
    errors: list[str] = []
    stop = threading.Event()

    def client(i: int) -> None:
        n = i
        while not stop.is_set():
            try:
                engine.search(SearchRequest(query=qs[n % len(qs)], mode=mode))
            except Exception as exc:  # counted: the bench reports errors
                errors.append(repr(exc)[:200])
            counts[i] += 1
            n += clients

    with threadpool_limits(limits=1):
        threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
        t0 = time.perf_counter()
        for t in threads:
            t.start()
        time.sleep(seconds)
        stop.set()
        for t in threads:
            t.join()
        elapsed = time.perf_counter() - t0
    if errors:
        print(f"{len(errors)} errors, first: {errors[0]}", file=sys.stderr)
    return round(sum(counts) / elapsed, 1)


def child(backend: str, args: argparse.Namespace) -> dict[str, Any]:
    settings = settings_for(backend, args.home, args.url, args.embedder)
    t0 = time.perf_counter()
    engine = open_engine(settings)
    out: dict[str, Any] = {"backend": backend, "open_engine_s": round(time.perf_counter() - t0, 2)}
    out["rss_mb_after_open"] = round(rss_mb(), 1)
    qs = queries()
    if backend == "opensearch":
        assert isinstance(engine.lexical, OpenSearchLexical)
        for n in (2, 3):
            weights = (0.15, 0.85, 0.5)[:n]
            put_pipeline(
                engine.lexical.cluster, f"{PIPELINE}-{n}", hybrid_pipeline("min_max", weights)
            )
    for q in qs:  # warm up caches, the embedder, the cluster
        engine.search(SearchRequest(query=q))
    timings: dict[str, list[float]] = {
        "lexical end to end": [],
        "hybrid end to end": [],
        "hybrid retrieval, client-side fusion": [],
    }
    if backend == "opensearch":
        timings["hybrid retrieval, neural-search hybrid query"] = []
    for _ in range(args.rounds):
        for q in qs:
            t = time.perf_counter()
            engine.search(SearchRequest(query=q, mode="lexical"))
            timings["lexical end to end"].append(time.perf_counter() - t)
            t = time.perf_counter()
            engine.search(SearchRequest(query=q))
            timings["hybrid end to end"].append(time.perf_counter() - t)
            t = time.perf_counter()
            client_retrieval(engine, q)
            timings["hybrid retrieval, client-side fusion"].append(time.perf_counter() - t)
            if backend == "opensearch":
                t = time.perf_counter()
                neural_retrieval(engine, q)
                timings["hybrid retrieval, neural-search hybrid query"].append(
                    time.perf_counter() - t
                )
    out["latency"] = {k: stats(v) for k, v in timings.items()}
    out[f"throughput_{args.clients}_clients_per_s"] = {
        "hybrid": throughput(engine, qs, args.clients, args.seconds, "hybrid"),
        "lexical": throughput(engine, qs, args.clients, args.seconds, "lexical"),
    }
    out["rss_mb_end"] = round(rss_mb(), 1)
    out["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    engine.close()
    return out


def node_memory(url: str) -> dict[str, Any]:
    """The node's resident memory (from the node itself) and the index size on disk."""
    stats_ = httpx.get(f"{url}/_nodes/stats/jvm", timeout=30).json()
    node = next(iter(stats_["nodes"].values()))
    indices = httpx.get(
        f"{url}/_cat/indices/{ALIAS}*", params={"format": "json", "bytes": "mb"}, timeout=30
    ).json()
    return {
        "node_rss_mb": round(_node_rss(url), 1),
        "node_heap_used_mb": round(node["jvm"]["mem"]["heap_used_in_bytes"] / 2**20, 1),
        "node_heap_max_mb": round(node["jvm"]["mem"]["heap_max_in_bytes"] / 2**20, 1),
        "index_store_mb": sum(float(i["store.size"]) for i in indices),
    }


def _node_rss(url: str) -> float:
    """RSS of the node's process, read from /proc (the node runs on this machine)."""
    info = httpx.get(f"{url}/_nodes/process", timeout=30).json()
    pid = next(iter(info["nodes"].values()))["process"]["id"]
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def build_index(backend: str, args: argparse.Namespace) -> dict[str, Any]:
    # Engine, not open_engine: no catch-up first (it would fill a fresh cluster once
    # before the timed rebuild fills it again).
    with Engine(settings_for(backend, args.home, args.url, args.embedder)) as engine:
        n = engine.store.count_documents()
        t0 = time.perf_counter()
        done = engine.rebuild_index()
        seconds = time.perf_counter() - t0
    return {"documents": done, "seconds": round(seconds, 1), "docs_per_s": round(n / seconds, 1)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--home", type=Path, default=Path("/tmp/newsdesk-bench"))
    ap.add_argument("--url", required=True, help="A node of the cluster (on this machine).")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--clients", type=int, default=8)
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument("--skip-index", action="store_true", help="Reuse the indexes as built.")
    ap.add_argument("--embedder", default="use-m3", choices=("use-m3", "hashing512"))
    ap.add_argument("--child", choices=("local", "opensearch"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        print(json.dumps(child(args.child, args)))
        return
    result: dict[str, Any] = {"indexing": {}, "embedder": args.embedder}
    with open_engine(settings_for("local", args.home, args.url, args.embedder)) as engine:
        pending = engine.pending_embeddings()
        if pending:
            print(f"embedding {pending} documents ({args.embedder})...", file=sys.stderr)
            t0 = time.perf_counter()
            engine.embed_pending()
            result["embed_s"] = round(time.perf_counter() - t0, 1)
        result["documents"] = engine.store.count_documents()
    if not args.skip_index:
        for backend in ("local", "opensearch"):
            print(f"indexing ({backend})...", file=sys.stderr)
            result["indexing"][backend] = build_index(backend, args)
            print(json.dumps(result["indexing"][backend]), file=sys.stderr)
    result["node_before"] = node_memory(args.url)
    for backend in ("local", "opensearch"):
        print(f"measuring {backend}...", file=sys.stderr)
        cmd = [sys.executable, __file__, "--child", backend, "--home", str(args.home)]
        cmd += ["--url", args.url, "--rounds", str(args.rounds)]
        cmd += ["--clients", str(args.clients), "--seconds", str(args.seconds)]
        cmd += ["--embedder", args.embedder]
        done = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise SystemExit(done.stderr[-3000:])
        result[backend] = json.loads(done.stdout.strip().splitlines()[-1])
        print(json.dumps(result[backend]), file=sys.stderr)
    result["node_after"] = node_memory(args.url)
    print(json.dumps(result, indent=2, ensure_ascii=False))


if __name__ == "__main__":
    main()
