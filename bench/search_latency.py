"""Search latency at scale: lexical-only and hybrid end to end vs bare tantivy.

Builds (once) a home of >= 100,000 documents from the shared corpora (CCTV, Reuters,
financial RSS, FinNL/FinNA, US news), repeating them with a copy number in the title
when the corpora run out, then times queries in one run:

- bare tantivy: the BM25 query alone (tantivy searcher, top 10, no document loading);
- lexical end to end: ``Engine.search`` in lexical mode (parse, BM25 top 200, relevance
  cut-off, story collapse, newest-first sort, documents + summaries + snippets of a page);
- hybrid end to end: ``Engine.search`` default mode (the above plus query embedding,
  a full vector scan, fusion).

Ingest uses the real pipeline with ``defer_embeddings`` (lexical index built as it
goes). Embedding 100k documents with the default embedder takes ~15 minutes on two
cores, so the bench embeds each *distinct* text once with the real embedder and gives
the repeated copies their original's vector (a copy differs only by " (k)" in the
title); vectors are written through the store exactly as ``newsdesk embed`` writes
them. The embedding throughput is measured separately on a sample.

    .venv/bin/python bench/search_latency.py [--docs 100000] [--home /tmp/newsdesk-bench]
"""

from __future__ import annotations

import argparse
import gc
import gzip
import itertools
import json
import resource
import statistics
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from newsdesk import SearchRequest, load_settings, open_engine
from newsdesk.engine import Engine
from newsdesk.index.vectors import NAME as VECTORS
from newsdesk.index.vectors import document_text
from newsdesk.ingest import RawRecord
from newsdesk.search import parse_query

ROOT = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def _jsonl(path: Path) -> Iterator[dict[str, Any]]:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as fh:
        for line in fh:
            if line.strip():
                yield json.loads(line)


def base_records() -> Iterator[dict[str, Any]]:
    """Distinct documents from the shared corpora, as ingest fields."""
    for s in _jsonl(ROOT / "cctv_xwlb" / "xwlb_stories.jsonl.gz"):
        if s.get("paragraphs"):
            yield {
                "id": f"cctv-{s['id']}",
                "title": s["title"],
                "paragraphs": s["paragraphs"],
                "published_at": s["date"],
                "source": "CCTV",
                "lang": "zh",
            }
    for r in _jsonl(ROOT / "reuters21578" / "reuters21578.jsonl.gz"):
        if r.get("paragraphs") and r.get("title"):
            row = {
                "id": f"reuters-{r['newid']}",
                "title": r["title"].title(),
                "paragraphs": r["paragraphs"],
                "source": "Reuters",
                "lang": "en",
            }
            if r.get("date_iso"):
                row["published_at"] = r["date_iso"]
            yield row
    for i, a in enumerate(_jsonl(ROOT / "fin_rss_multisource" / "articles.jsonl.gz")):
        if a.get("paragraphs"):
            yield {
                "id": f"rss-{i}",
                "title": a["title"],
                "paragraphs": a["paragraphs"],
                "published_at": a.get("published_iso") or None,
                "source": a.get("source", ""),
                "lang": a.get("lang", ""),
            }
    for split in ("train", "eval", "test"):
        name = f"finnl_{split}.jsonl" + (".gz" if split == "train" else "")
        for r in _jsonl(ROOT / "bbt_fincuge" / name):
            text = r["text"]
            yield {"id": f"finnl-{r['id']}", "title": text[:30], "paragraphs": [text], "lang": "zh"}
    for split in ("eval", "test"):
        for r in _jsonl(ROOT / "bbt_fincuge" / f"finna_{split}.jsonl.gz"):
            yield {
                "id": f"finna-{r['id']}",
                "title": r["summary"],
                "paragraphs": [r["text"]],
                "lang": "zh",
            }
    for r in _jsonl(ROOT / "sentometrics_usnews" / "usnews.jsonl.gz"):
        text = r["texts"]
        yield {
            "id": f"usnews-{r['id']}",
            "title": text[:80],
            "paragraphs": [text],
            "published_at": r["date"],
            "lang": "en",
        }


def corpus(n: int) -> Iterator[tuple[int, dict[str, Any]]]:
    """``n`` records: the distinct ones, then numbered copies, with their copy number."""
    bases = [{k: v for k, v in b.items() if v is not None} for b in base_records()]
    made = 0
    copy = 0
    while made < n:
        for b in bases:
            if made >= n:
                return
            if copy == 0:
                yield 0, b
            else:
                yield copy, {**b, "id": f"{b['id']}-c{copy}", "title": f"{b['title']} ({copy})"}
            made += 1
        copy += 1


def build(engine: Engine, n: int, home: Path) -> dict[str, float]:
    """Ingest until the store holds ``n`` documents, rebuild the lexical index, embed.

    Resumable: how many corpus records were tried is kept in ``bench-state.json`` in
    the bench home, and embedding is skipped when every document has a vector.
    """
    state_file = home / "bench-state.json"
    attempted = json.loads(state_file.read_text())["attempted"] if state_file.exists() else 0
    info: dict[str, float] = {}
    t0 = time.perf_counter()
    while engine.store.count_documents() < n:
        # Exact duplicates among the corpora are rejected, so ask for a little more.
        want = int((n - engine.store.count_documents()) * 1.02) + 10
        chunk = itertools.islice(corpus(attempted + want), attempted, None)
        engine.ingest_records(
            (RawRecord(origin=f"bench:{r['id']}", fields=r) for _, r in chunk),
            defer_embeddings=True,
        )
        attempted += want
        state_file.write_text(json.dumps({"attempted": attempted}))
        print(f"ingested: {engine.store.count_documents()} documents", file=sys.stderr)
    info["ingest_s"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    engine.rebuild_index()
    info["lexical_rebuild_s"] = time.perf_counter() - t0
    print(f"lexical index rebuilt in {info['lexical_rebuild_s']:.1f}s", file=sys.stderr)

    assert engine.vectors is not None
    if engine.status()["embedded"] >= engine.store.count_documents():
        return info
    base_of = {
        r["id"]: (r["id"].rsplit("-c", 1)[0] if c else r["id"]) for c, r in corpus(attempted)
    }
    embedder = engine.vectors.embedder
    rows = engine.store.rows_since(0, 10**9)
    originals = [r for r in rows if base_of.get(r.id, r.id) == r.id]
    by_base: dict[str, np.ndarray] = {}
    t0 = time.perf_counter()
    for start in range(0, len(originals), 512):
        batch = originals[start : start + 512]
        vecs = embedder.embed([document_text(r.title, r.body) for r in batch])
        for r, v in zip(batch, vecs, strict=True):
            by_base[r.id] = v.astype(np.float16)
        if start % 10240 == 0:
            print(f"  embedded {start + len(batch)}/{len(originals)}", file=sys.stderr)
    info["embed_distinct_s"] = time.perf_counter() - t0
    info["distinct"] = len(originals)
    out = []
    for r in rows:
        vec = by_base.get(base_of.get(r.id, r.id))
        if vec is not None:
            out.append((r.id, r.rev, vec.tobytes()))
    params = engine.vectors.params(embedder.dim)
    for start in range(0, len(out), 5000):
        chunk_rows = out[start : start + 5000]
        engine.store.put_embeddings(VECTORS, chunk_rows, max(x[1] for x in chunk_rows), params)
    engine.store.put_embeddings(VECTORS, [], engine.store.max_rev(), params)
    print(
        f"embedded {len(originals)} distinct texts in {info['embed_distinct_s']:.0f}s, "
        f"{len(out)} vectors stored",
        file=sys.stderr,
    )
    return info


def queries() -> list[str]:
    qs = [
        "技术主权",
        "稀土 出口管制",
        "芯片",
        "新冠 疫苗",
        "房地产 调控",
        "虚拟货币",
        "外汇",
        "债券 违约",
        "能源 转型",
        "期货",
        "乡村振兴",
        "人工智能",
        "货币政策",
        '"一带一路"',
        "crude oil",
        "interest rates",
        "trade deficit",
        "grain harvest",
        "foreign exchange",
        "rare earth export controls",
        "semiconductor supply chain",
        "central bank",
        "natural gas prices",
        "quarterly earnings",
        "acquisition merger",
        "gold price",
    ]
    for q in _jsonl(ROOT / "disc_finllm_retrieval" / "queries.jsonl"):
        qs.append(q["question"][:40])
    for d in list(_jsonl(ROOT / "wmt21_zhen_news" / "newstest2021_zhen_docs.jsonl"))[:40]:
        qs.append(d["title_en"][:80])
    return qs


def pct(values: list[float], p: float) -> float:
    return float(np.percentile(np.asarray(values), p))


def rss_mb() -> tuple[float, float]:
    current = 0.0
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            current = int(line.split()[1]) / 1024
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return current, peak


def measure(engine: Engine, rounds: int) -> dict[str, dict[str, float]]:
    qs = queries()
    lexical = engine.lexical
    timings: dict[str, list[float]] = {
        "bare tantivy (BM25 top 10)": [],
        "query embedding": [],
        "vector scan (top 200)": [],
        "lexical end to end": [],
        "hybrid end to end": [],
        "hybrid, sort=relevance": [],
    }
    assert engine.vectors is not None
    for q in qs:  # warm up caches and the embedder
        engine.search(SearchRequest(query=q))
    gc.collect()
    for _ in range(rounds):
        for q in qs:
            lq = parse_query(SearchRequest(query=q))
            built = lexical.build(lq)
            t = time.perf_counter()
            lexical._index.searcher().search(built, 10, count=False)
            timings["bare tantivy (BM25 top 10)"].append(time.perf_counter() - t)
            t = time.perf_counter()
            qv = engine.vectors.embed_query(q)
            timings["query embedding"].append(time.perf_counter() - t)
            t = time.perf_counter()
            engine.vectors.search(qv, 200)
            timings["vector scan (top 200)"].append(time.perf_counter() - t)
            t = time.perf_counter()
            engine.search(SearchRequest(query=q, mode="lexical"))
            timings["lexical end to end"].append(time.perf_counter() - t)
            t = time.perf_counter()
            engine.search(SearchRequest(query=q))
            timings["hybrid end to end"].append(time.perf_counter() - t)
            t = time.perf_counter()
            engine.search(SearchRequest(query=q, sort="relevance"))
            timings["hybrid, sort=relevance"].append(time.perf_counter() - t)
    return {
        k: {
            "p50_ms": pct(v, 50) * 1000,
            "p99_ms": pct(v, 99) * 1000,
            "mean_ms": statistics.fmean(v) * 1000,
            "n": len(v),
        }
        for k, v in timings.items()
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--docs", type=int, default=100_000)
    ap.add_argument("--home", type=Path, default=Path("/tmp/newsdesk-bench"))
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--build-only", action="store_true", help="Prepare the home and stop.")
    args = ap.parse_args()
    settings = load_settings(home=args.home, environ={})
    build_info: dict[str, float] = {}
    with open_engine(settings) as engine:
        build_info = build(engine, args.docs, args.home)
    if args.build_only:
        return
    # A fresh process-like open: what a search command or the server pays at start-up.
    t0 = time.perf_counter()
    engine = open_engine(settings)
    open_s = time.perf_counter() - t0
    status = engine.status()
    rss_open = rss_mb()
    sample = engine.store.rows_since(0, 1000)
    assert engine.vectors is not None
    t0 = time.perf_counter()
    engine.vectors.embedder.embed([document_text(r.title, r.body) for r in sample])
    embed_rate = len(sample) / (time.perf_counter() - t0)
    results = measure(engine, args.rounds)
    rss_end = rss_mb()
    print(
        json.dumps(
            {
                "documents": status["documents"],
                "embedded": status["embedded"],
                "stories": status["stories"],
                "build": build_info,
                "open_engine_s": round(open_s, 2),
                "embed_docs_per_s (1000 docs, title+lead)": round(embed_rate, 1),
                "rss_mb_after_open": rss_open[0],
                "rss_mb_end": rss_end[0],
                "peak_rss_mb": rss_end[1],
                "latency": {k: {m: round(x, 2) for m, x in v.items()} for k, v in results.items()},
            },
            indent=2,
            ensure_ascii=False,
        )
    )
    engine.close()


if __name__ == "__main__":
    main()
