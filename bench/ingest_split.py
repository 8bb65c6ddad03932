"""Where an ingest's CPU goes, step by step, beside the bare tokenizer.

Usage (from the repository root)::

    .venv/bin/python bench/ingest_split.py [--limit 6000] [--rounds 3]

Each round, in this process: the bare tokenizer (``newsdesk.text.tokenize``) over every
story's title and body, then one ingest of the same stories into a fresh home, the
way ``bench/ingest.py`` makes them searchable (``ingest_workers = 1``, no embeddings,
``defer_summaries``). The engine's steps are wrapped to add up their CPU time
(``time.process_time``: this process and its threads); the table gives the median of
the rounds in ms per story. Indented steps are parts of the step above them.
"""

from __future__ import annotations

import argparse
import functools
import json
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from ingest import DATA, load

# (label, owner, attribute); a label starting with spaces is a part of the one above.
STEPS = [
    ("read + validate (build_document, stored-hash check)", "engine:Engine", "_front_batch"),
    ("  build_document", "engine", "build_document"),
    ("fingerprints + index terms (compute_many)", "pipeline", "compute_many"),
    ("  fingerprints (fold, shingles, MinHash)", "dedupe", "fingerprints"),
    ("  index terms (jieba search mode)", "pipeline", "index_terms"),
    ("grouping + SQLite writes (_store_batch)", "engine:Engine", "_store_batch"),
    ("  band neighbours of the batch", "store.sqlite:SQLiteStore", "band_neighbours"),
    ("  put (rows, paragraphs, band keys)", "store.sqlite:SQLiteStore", "put"),
    ("tantivy (index_pending)", "engine:Engine", "index_pending"),
]


def _wrap(acc: defaultdict[str, float], label: str, owner: str, name: str) -> None:
    import importlib

    module_name, _, cls = owner.partition(":")
    target: Any = importlib.import_module(f"newsdesk.{module_name}")
    if cls:
        target = getattr(target, cls)
    inner: Callable[..., Any] = getattr(target, name)

    @functools.wraps(inner)
    def timed(*args: Any, **kwargs: Any) -> Any:
        start = time.process_time()
        try:
            return inner(*args, **kwargs)
        finally:
            acc[label] += time.process_time() - start

    setattr(target, name, timed)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--limit", type=int, default=6000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    if not DATA.exists():
        print(f"evaluation data not found at {DATA}", file=sys.stderr)
        return 2
    from newsdesk import load_settings, open_engine
    from newsdesk.text import tokenize

    rows = load(args.limit)
    n = len(rows)
    acc: defaultdict[str, float] = defaultdict(float)
    for label, owner, name in STEPS:
        _wrap(acc, label, owner, name)
    series: dict[str, list[float]] = {}
    texts = [f"{r['title']}\n" + "\n".join(r["paragraphs"]) for r in rows]  # type: ignore[arg-type]
    with tempfile.TemporaryDirectory() as tmpdir:
        tmp = Path(tmpdir)
        path = tmp / "stories.jsonl"
        with path.open("w", encoding="utf-8") as fh:
            for r in rows:
                fh.write(json.dumps(r, ensure_ascii=False) + "\n")
        for rnd in range(args.rounds):
            start = time.process_time()
            for text in texts:
                tokenize(text)
            series.setdefault("bare tokenizer", []).append(time.process_time() - start)
            acc.clear()
            overrides: dict[str, object] = {"ingest_workers": 1, "embedder": "none"}
            settings = load_settings(home=tmp / f"home{rnd}", overrides=overrides, environ={})
            with open_engine(settings) as engine:
                start = time.process_time()
                engine.ingest_paths([path], defer_summaries=True)
                total = time.process_time() - start
            series.setdefault("searchable (the whole ingest_paths)", []).append(total)
            top = sum(v for k, v in acc.items() if not k.startswith(" "))
            series.setdefault("the rest (JSONL, batching, bookkeeping)", []).append(total - top)
            for label, _, _ in STEPS:
                series.setdefault(label, []).append(acc[label])
    tok = statistics.median(series["bare tokenizer"]) * 1000 / n
    print(f"{n} stories, {args.rounds} rounds, medians, CPU ms per story:")
    order = ["bare tokenizer", *[s[0] for s in STEPS], "the rest (JSONL, batching, bookkeeping)"]
    order.append("searchable (the whole ingest_paths)")
    for label in order:
        ms = statistics.median(series[label]) * 1000 / n
        print(f"  {label:52s} {ms:6.3f}  {ms / tok:5.2f}x tokenizer")
    searchable = statistics.median(series["searchable (the whole ingest_paths)"]) * 1000 / n
    print(f"  ratio per CPU second (tokenizer / searchable): {tok / searchable:.1%}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
