"""Search latency at 100,000 documents: the PostgreSQL store beside the SQLite store.

One run, one process, the same documents in both stores:

1. builds (once, resumable) a SQLite home of >= ``--docs`` documents with the real
   ingest pipeline, from the corpus of ``bench/search_latency.py`` (the shared
   corpora, repeated with a copy number when they run out), and embeds them;
2. copies every table into a fresh PostgreSQL database with ``COPY`` (same ids,
   revisions, stories, summaries and vectors);
3. opens an engine on each store. The PostgreSQL engine's home holds its own
   tantivy copy, built from PostgreSQL by the catch-up every server does (timed);
4. times the same queries against both, interleaved query by query: lexical end to
   end, hybrid end to end, and the document page (document, summary, other sources).

The embedder is the in-package ``hashing`` one so the build takes minutes, not the
hour the default embedder needs on two cores; the vector scan is the same numpy code
for both stores, so what differs between the columns is the store alone.

    .venv/bin/python bench/store_latency.py --docs 100000 --pg-url postgresql://.../newsdesk
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import shutil
import sqlite3
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent))
from search_latency import corpus, queries

from newsdesk import SearchRequest, load_settings, open_engine
from newsdesk.config import Settings
from newsdesk.engine import Engine
from newsdesk.ingest import RawRecord
from newsdesk.store.postgres import PostgresStore

TABLES = [
    ("documents", None),
    ("paragraphs", None),
    ("summaries", None),
    ("summary_errors", None),
    ("lsh_bands", None),
    ("embeddings", None),
    ("index_state", "name != 'lexical'"),
]


def build_home(settings: Settings, n: int, home: Path) -> dict[str, float]:
    """Ingest until the SQLite store holds ``n`` documents (resumable), then embed."""
    state_file = home / "bench-state.json"
    info: dict[str, float] = {}
    with open_engine(settings) as engine:
        attempted = json.loads(state_file.read_text())["attempted"] if state_file.exists() else 0
        t0 = time.perf_counter()
        while engine.store.count_documents() < n:
            want = int((n - engine.store.count_documents()) * 1.02) + 10
            chunk = itertools.islice(corpus(attempted + want), attempted, None)
            engine.ingest_records(
                (RawRecord(origin=f"bench:{r['id']}", fields=r) for _, r in chunk),
                defer_embeddings=True,
            )
            attempted += want
            state_file.write_text(json.dumps({"attempted": attempted}))
            print(f"ingested: {engine.store.count_documents()} documents", file=sys.stderr)
        info["ingest_s"] = round(time.perf_counter() - t0, 1)
        t0 = time.perf_counter()
        engine.embed_pending()
        info["embed_s"] = round(time.perf_counter() - t0, 1)
    return info


def copy_to_postgres(sqlite_path: Path, admin_url: str, db: str) -> tuple[str, float]:
    """A fresh database ``db`` holding the SQLite store's rows; returns its URL, seconds."""
    with psycopg.connect(admin_url, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')
        admin.execute(f'CREATE DATABASE "{db}"')
    url = admin_url.rsplit("/", 1)[0] + f"/{db}"
    PostgresStore(url).close()  # the schema, by the store's own migrations
    src = sqlite3.connect(f"file:{sqlite_path}?mode=ro", uri=True)
    t0 = time.perf_counter()
    with psycopg.connect(url) as conn:
        for table, where in TABLES:
            cols = [r[1] for r in src.execute(f"PRAGMA table_info({table})")]
            sql = f"SELECT {', '.join(cols)} FROM {table}" + (f" WHERE {where}" if where else "")
            with conn.cursor().copy(f"COPY {table} ({', '.join(cols)}) FROM STDIN") as copy:
                for row in src.execute(sql):
                    copy.write_row(row)
            print(f"  copied {table}", file=sys.stderr)
        conn.execute("SELECT setval('document_revs', (SELECT MAX(rev) FROM documents))")
        conn.execute("ANALYZE")
    src.close()
    return url, time.perf_counter() - t0


def pct(values: list[float], p: float) -> float:
    return float(np.percentile(np.asarray(values), p)) * 1000


def measure(engines: dict[str, Engine], rounds: int) -> dict[str, dict[str, float]]:
    qs = queries()
    ids = engines["sqlite"].store.all_ids()[:: max(1, len(qs))][: len(qs)]
    kinds = ("lexical end to end", "hybrid end to end", "document page")
    timings: dict[str, list[float]] = {f"{k} | {s}": [] for k in kinds for s in engines}
    for engine in engines.values():  # warm up
        for q in qs:
            engine.search(SearchRequest(query=q))
    for _ in range(rounds):
        for q, doc_id in zip(qs, ids, strict=False):
            for name, engine in engines.items():
                t = time.perf_counter()
                engine.search(SearchRequest(query=q, mode="lexical"))
                timings[f"lexical end to end | {name}"].append(time.perf_counter() - t)
                t = time.perf_counter()
                engine.search(SearchRequest(query=q))
                timings[f"hybrid end to end | {name}"].append(time.perf_counter() - t)
                t = time.perf_counter()
                doc = engine.document(doc_id)
                engine.summary_for(doc_id)
                engine.other_sources(doc)
                timings[f"document page | {name}"].append(time.perf_counter() - t)
    return {
        k: {
            "p50_ms": round(pct(v, 50), 2),
            "p99_ms": round(pct(v, 99), 2),
            "mean_ms": round(statistics.fmean(v) * 1000, 2),
            "n": len(v),
        }
        for k, v in timings.items()
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--docs", type=int, default=100_000)
    ap.add_argument("--home", type=Path, default=Path("/tmp/newsdesk-bench-store"))
    ap.add_argument("--pg-url", required=True, help="a PostgreSQL URL (make postgres prints one)")
    ap.add_argument("--db", default="newsdesk_bench_store")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--build-only", action="store_true")
    ap.add_argument(
        "--reuse", action="store_true", help="Measure again: keep the copy and the index copy."
    )
    args = ap.parse_args()
    overrides = {"embedder": "hashing"}
    sqlite_home = args.home / "sqlite"
    settings = load_settings(home=sqlite_home, environ={}, overrides=overrides)
    build_info = build_home(settings, args.docs, sqlite_home)
    if args.build_only:
        return
    pg_home = args.home / "pg"
    if args.reuse:
        url, copy_s = args.pg_url.rsplit("/", 1)[0] + f"/{args.db}", 0.0
    else:
        url, copy_s = copy_to_postgres(settings.db_path, args.pg_url, args.db)
        if pg_home.exists():
            shutil.rmtree(pg_home)
    pg_settings = load_settings(home=pg_home, environ={}, overrides={**overrides, "store_url": url})
    t0 = time.perf_counter()
    pg = open_engine(pg_settings)  # builds this home's index copy from PostgreSQL
    pg_open_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    sq = open_engine(settings)
    sq_open_s = time.perf_counter() - t0
    engines = {"sqlite": sq, "postgresql": pg}
    for name, engine in engines.items():
        status = engine.status()
        assert status["indexed"] == status["documents"], (name, status)
    results = measure(engines, args.rounds)
    print(
        json.dumps(
            {
                "documents": sq.status()["documents"],
                "stories": sq.status()["stories"],
                "build": build_info,
                "copy_to_postgres_s": round(copy_s, 1),
                "open_engine_s": {"sqlite": round(sq_open_s, 2), "postgresql": round(pg_open_s, 2)},
                "load_average": os.getloadavg(),
                "latency": results,
            },
            indent=2,
            ensure_ascii=False,
        )
    )
    for engine in engines.values():
        engine.close()


if __name__ == "__main__":
    main()
