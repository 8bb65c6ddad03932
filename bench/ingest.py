"""Ingest throughput beside the bare tokenizer, on the 19,876 real CCTV stories.

Usage (from the repository root)::

    .venv/bin/python bench/ingest.py [--limit N] [--rounds 3] [--workers 0,1]

Each round, in one process and one after the other so that both see the same
machine load: the bare tokenizer (``newsdesk.text.tokenize``) over every story's
title and body, then a full ingest of the same stories (JSONL file -> validated
documents -> fingerprints -> summaries -> SQLite -> tantivy) into a fresh home,
once per ``--workers`` setting. Reports docs/s per step and the ratio of ingest to
tokenizer throughput per round, and the medians over the rounds.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

from newsdesk import load_settings, open_engine
from newsdesk.text import tokenize

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "cctv_xwlb"


def load(limit: int | None) -> list[dict[str, object]]:
    rows: list[dict[str, object]] = []
    with gzip.open(DATA / "xwlb_stories.jsonl.gz", "rt", encoding="utf-8") as fh:
        for line in fh:
            r = json.loads(line)
            rows.append(
                {
                    "id": r["id"],
                    "title": r["title"],
                    "paragraphs": r["paragraphs"],
                    "url": r["url"],
                    "source": r["source"],
                    "lang": r["lang"],
                    "published_at": r["date"],
                }
            )
            if limit and len(rows) >= limit:
                break
    return rows


def tokenizer_rate(rows: list[dict[str, object]]) -> float:
    texts = [f"{r['title']}\n" + "\n".join(r["paragraphs"]) for r in rows]  # type: ignore[arg-type]
    start = time.perf_counter()
    for text in texts:
        tokenize(text)
    return len(rows) / (time.perf_counter() - start)


def ingest_rate(path: Path, n: int, workers: int, tmp: Path) -> tuple[float, dict[str, int]]:
    home = Path(tempfile.mkdtemp(dir=tmp))
    settings = load_settings(home=home, overrides={"ingest_workers": workers}, environ={})
    with open_engine(settings) as engine:
        start = time.perf_counter()
        report = engine.ingest_paths([path])
        elapsed = time.perf_counter() - start
        status = engine.status()
    assert status["indexed"] == status["documents"], status
    return n / elapsed, report.counts


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--limit", type=int, default=None, help="only the first N stories")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--workers", default="0,1", help="ingest_workers settings to compare")
    args = parser.parse_args()
    if not DATA.exists():
        print(f"evaluation data not found at {DATA}", file=sys.stderr)
        return 2
    rows = load(args.limit)
    settings = [int(w) for w in args.workers.split(",")]
    with tempfile.TemporaryDirectory() as tmpdir:
        tmp = Path(tmpdir)
        path = tmp / "stories.jsonl"
        with path.open("w", encoding="utf-8") as fh:
            for r in rows:
                fh.write(json.dumps(r, ensure_ascii=False) + "\n")
        tok_rates: list[float] = []
        rates: dict[int, list[float]] = {w: [] for w in settings}
        ratios: dict[int, list[float]] = {w: [] for w in settings}
        for rnd in range(1, args.rounds + 1):
            tok = tokenizer_rate(rows)
            tok_rates.append(tok)
            for w in settings:
                rate, counts = ingest_rate(path, len(rows), w, tmp)
                rates[w].append(rate)
                ratios[w].append(rate / tok)
                busy = os.getloadavg()[0]
                print(
                    f"round {rnd}: tokenizer {tok:8.0f} docs/s | ingest workers={w}: "
                    f"{rate:7.0f} docs/s ({rate / tok:6.1%}) load {busy:.1f} {counts}",
                    flush=True,
                )
    print(f"\n{len(rows)} stories, {args.rounds} rounds, medians:")
    print(f"  bare tokenizer           {statistics.median(tok_rates):8.0f} docs/s")
    for w in settings:
        print(
            f"  ingest (workers={w})       {statistics.median(rates[w]):8.0f} docs/s"
            f"   ratio {statistics.median(ratios[w]):6.1%}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
