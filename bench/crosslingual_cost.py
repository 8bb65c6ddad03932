"""What pairing Chinese and English stories adds to ingest, beside embedding.

Usage (from the repository root)::

    .venv/bin/python bench/crosslingual_cost.py [--docs 1500] [--rounds 3]

Ingests the longest real feed items of ../shared/data/fin_rss_multisource (Chinese
and English, with their publish times) into a temporary home with the default
embedder, deferring embeddings; then, in the same process, times embedding them
(`Engine.embed_pending` with pairing off) and pairing them from scratch
(`story_links.link_new_documents`, the step ingest and the catch-up run after
embedding) ``--rounds`` times each, and prints the medians per document.
"""

from __future__ import annotations

import argparse
import gzip
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

from newsdesk import load_settings, open_engine
from newsdesk.ingest import RawRecord
from newsdesk.story_links import STATE, link_new_documents

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def _records(n: int) -> list[RawRecord]:
    rows = []
    with gzip.open(DATA / "fin_rss_multisource" / "articles.jsonl.gz", "rt") as fh:
        for line in fh:
            r = json.loads(line)
            text = "\n".join(p for p in r.get("paragraphs") or [] if p.strip())
            if r.get("lang") in ("zh", "en") and len(text) >= 200:
                rows.append((len(text), r))
    rows.sort(key=lambda x: -x[0])
    out = []
    for _, r in rows[:n]:
        fields = {
            "url": r["link"],
            "title": r["title"],
            "paragraphs": [p for p in r["paragraphs"] if p.strip()],
            "source": r["source"],
            "published_at": r["published_iso"],
            "lang": r["lang"],
        }
        out.append(RawRecord(origin=r["link"], fields=fields))
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--docs", type=int, default=1500)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    if not DATA.exists():
        print(f"evaluation data not found at {DATA}", file=sys.stderr)
        return 2
    records = _records(args.docs)
    with tempfile.TemporaryDirectory() as tmp:
        env = {"NEWSDESK_CROSSLINGUAL_STORIES": "off"}
        settings = load_settings(home=Path(tmp) / "home", environ=env)
        with open_engine(settings) as engine:
            report = engine.ingest_records(records, defer_embeddings=True)
            n = report.counts["accepted"]
            engine.embed_pending()  # loads the model once, outside the timings
            assert engine.vectors is not None
            embed_s, link_s, links = [], [], 0
            for _ in range(args.rounds):
                start = time.perf_counter()
                engine.rebuild_embeddings()
                embed_s.append(time.perf_counter() - start)
                engine.store.set_index_state(STATE, 0, {})
                start = time.perf_counter()
                links = len(link_new_documents(engine.store, engine.vectors))
                link_s.append(time.perf_counter() - start)
    e, lk = statistics.median(embed_s), statistics.median(link_s)
    print(f"{n} documents (feed items, zh+en), {args.rounds} rounds, medians")
    print("| step | total s | ms per document |")
    print("|---|---|---|")
    print(f"| embed (use-m3) | {e:.1f} | {1000 * e / n:.1f} |")
    print(f"| pair across languages | {lk:.1f} | {1000 * lk / n:.1f} |")
    print(f"pairs merged: {links}; pairing adds {100 * lk / e:.0f}% to embedding")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
