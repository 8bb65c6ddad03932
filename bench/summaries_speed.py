"""Per-document cost of extractive summaries and of the verifier, beside the baselines.

Run from the repository root:  .venv/bin/python bench/summaries_speed.py [N]
Reads N articles per source from ../shared/data (default 300) and prints the median
and p90 milliseconds per document of each step, measured in one run.
"""

from __future__ import annotations

import statistics
import sys
import time
from collections.abc import Callable
from itertools import islice
from pathlib import Path

from newsdesk.evaluation import data as ds
from newsdesk.evaluation.summaries import lead1, textrank
from newsdesk.models import Document
from newsdesk.summarize.extractive import ExtractiveSummarizer
from newsdesk.summarize.verify import verify


def timed(fn: Callable[[Document], object], docs: list[Document]) -> list[float]:
    out = []
    for doc in docs:
        started = time.perf_counter()
        fn(doc)
        out.append(1000 * (time.perf_counter() - started))
    return out


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 300
    data = ds.resolve_data_dir(Path("..") / "shared" / "data")
    docs = [
        *islice(ds.cctv_documents(data), n),
        *islice(ds.rss_documents(data), n),
        *islice(ds.finqa_documents(data), n),
    ]
    summarizer = ExtractiveSummarizer()
    summaries = {d.id: summarizer.summarize(d) for d in docs}  # warm-up, and input for verify
    rows = {
        "extractive summarize (incl. verify)": timed(summarizer.summarize, docs),
        "verify only": timed(lambda d: verify(summaries[d.id], d), docs),
        "LEAD-1 baseline": timed(lead1, docs),
        "TextRank baseline": timed(textrank, docs),
    }
    base = statistics.median(rows["extractive summarize (incl. verify)"])
    chars = sum(len(d.text) for d in docs) / len(docs)
    print(f"{len(docs)} documents, {chars:.0f} chars on average")
    print(f"{'step':40} {'median ms':>10} {'p90 ms':>8} {'x summarize':>12}")
    for name, values in rows.items():
        med = statistics.median(values)
        p90 = statistics.quantiles(values, n=10)[-1]
        print(f"{name:40} {med:10.2f} {p90:8.2f} {med / base:12.2f}")


if __name__ == "__main__":
    main()
