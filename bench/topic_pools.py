"""Build the judging pools of the topic evaluation (see bench/topics.md).

For every topic in src/newsdesk/evaluation/topics.jsonl, the corpus (all of
fin_rss_multisource) is searched by several systems and the top ``--depth`` documents
of each are pooled:

  bm25       tantivy BM25 + jieba, titles x2 (the lexical retriever, no cut-off)
  use-m3     USE multilingual v3 alone (cosine, no cut-off)
  e5-small   multilingual-e5-small alone (cosine, no cut-off; needs newsdesk[e5])
  hybrid     the default hybrid search, --sort relevance (with use-m3)
  newest     the default newest-first page (with use-m3)

The pools are written to ``--out`` (outside the repository) as JSONL rows
{topic, doc, systems}, with a reading file that holds each pooled document's title
and text for the assessor. The judgments themselves go to topics_qrels.tsv by hand.

    .venv/bin/python bench/topic_pools.py --out /tmp/topic-pools
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

from newsdesk.config import load_settings
from newsdesk.engine import Engine, open_engine
from newsdesk.evaluation.topics import load_corpus, load_topics
from newsdesk.ingest import RawRecord
from newsdesk.search import SearchRequest, parse_request


def build(engine: Engine, docs: list[dict[str, object]]) -> None:
    records = (RawRecord(origin=f"topics:{d['id']}", fields=d) for d in docs)
    engine.ingest_records(records, None, defer_embeddings=True)
    engine.embed_pending(None)


def _keys(query: str) -> list[str]:
    """Words of an English query, two-character pieces of a Chinese one."""
    keys: list[str] = []
    for part in query.split():
        if part.isascii():
            keys += [part.lower()] if len(part) > 3 else []
        else:
            keys += [part[i : i + 2] for i in range(0, max(len(part) - 1, 1), 2)]
    return keys


def mentions(query: str, body: str) -> int:
    low = body.lower()
    return sum(low.count(k) for k in _keys(query))


def context(query: str, body: str) -> str:
    """Where the topic is mentioned beyond the shown opening, for long texts."""
    low = body.lower()
    spots = sorted(i for k in _keys(query) if (i := low.find(k, 300)) >= 0)
    return "".join(f" ...{body[max(i - 60, 0) : i + 90]}..." for i in spots[:2])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--data", type=Path, default=Path("..") / "shared" / "data")
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--depth", type=int, default=15)
    ap.add_argument("--topics", default="", help="comma-separated topic ids (default all)")
    args = ap.parse_args()
    docs = load_corpus(args.data)
    topics = load_topics()
    if args.topics:
        keep = set(args.topics.split(","))
        topics = [t for t in topics if t.id in keep]
    pools: dict[str, dict[str, list[str]]] = {t.id: {} for t in topics}

    def add(tid: str, system: str, ids: list[str]) -> None:
        for d in ids[: args.depth]:
            pools[tid].setdefault(d, []).append(system)

    for embedder in ("use-m3", "e5-small"):
        with tempfile.TemporaryDirectory(prefix="newsdesk-pools-") as tmp:
            settings = load_settings(home=tmp, overrides={"embedder": embedder}, environ={})
            with open_engine(settings) as engine:
                print(f"{embedder}: ingesting and embedding {len(docs)} documents", file=sys.stderr)
                build(engine, docs)
                for t in topics:
                    req = SearchRequest(query=t.query, mode="semantic")
                    found = engine.searcher.candidates(req)
                    add(t.id, embedder, [d for d, _ in found.semantic])
                    if embedder != "use-m3":
                        continue
                    parsed = parse_request(SearchRequest(query=t.query))
                    add(t.id, "bm25", [h.id for h in engine.lexical.search(parsed.lexical, 50)])
                    rel = engine.search(
                        SearchRequest(query=t.query, sort="relevance", limit=args.depth)
                    )
                    add(t.id, "hybrid", [h.document.id for h in rel.hits])
                    new = engine.search(SearchRequest(query=t.query, limit=args.depth))
                    add(t.id, "newest", [h.document.id for h in new.hits])
    args.out.mkdir(parents=True, exist_ok=True)
    by_id = {str(d["id"]): d for d in docs}
    with (args.out / "pools.jsonl").open("w", encoding="utf-8") as fh:
        for tid, pool in pools.items():
            for d, systems in pool.items():
                fh.write(json.dumps({"topic": tid, "doc": d, "systems": systems}) + "\n")
    with (args.out / "reading.txt").open("w", encoding="utf-8") as fh:
        for t in topics:
            fh.write(f"\n=== {t.id} {t.query} :: {t.description}\n")
            for n, d in enumerate(sorted(pools[t.id])):
                doc = by_id[d]
                body = " ".join(str(p) for p in doc["paragraphs"])  # type: ignore[union-attr]
                fh.write(f"[{n}] {d} ({len(body)}ch, {mentions(t.query, body)}x) ")
                fh.write(f"{doc['title']} | {body[:300]}{context(t.query, body)}\n")
    total = sum(len(p) for p in pools.values())
    print(f"{total} pooled documents over {len(topics)} topics -> {args.out}", file=sys.stderr)


if __name__ == "__main__":
    main()
