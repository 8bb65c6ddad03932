"""Recall of the graph against ann_ef on the million-document home (after bench/million.py).

    .venv/bin/python bench/million_ef.py --queries 20 --ef 96 256

The exact top 10 of all queries comes from one pass over the memory-mapped rows; a
hit also counts "within ties" when its exact score reaches the 10th exact score - 0.001.
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
from million import settings_for
from million_data import CACHE, base_vectors, derive

from newsdesk.engine import EMBEDDERS
from newsdesk.index.vectors import VectorIndex
from newsdesk.store.sqlite import SQLiteStore


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--docs", type=int, default=1_000_000)
    ap.add_argument("--queries", type=int, default=20)
    ap.add_argument("--ef", type=int, nargs="+", default=[96, 256])
    args = ap.parse_args()
    settings = settings_for(CACHE / f"home-use-{args.docs}", "use")
    index = VectorIndex(
        SQLiteStore(settings.db_path),
        EMBEDDERS[settings.embedder](settings),
        directory=settings.vector_dir,
    )
    queries = derive(base_vectors("use", 2000), 200, seed=999)[: args.queries]
    t = time.perf_counter()
    truth = index.search_batch(queries, 10, exact=True)
    print(f"exact top 10 of {args.queries} queries in one pass: {time.perf_counter() - t:.1f} s")
    for ef in args.ef:
        index.ann_ef = ef
        times, by_id, by_tie = [], [], []
        for q, exact in zip(queries, truth, strict=True):
            t = time.perf_counter()
            hits = index.search(q, 200)[:10]
            times.append(time.perf_counter() - t)
            by_id.append(len({h.id for h in hits} & {h.id for h in exact}) / 10)
            by_tie.append(float(np.mean([h.score >= exact[9].score - 1e-3 for h in hits])))
        print(
            f"ef={ef} recall@10={np.mean(by_id):.3f} within ties={np.mean(by_tie):.3f} "
            f"p50={statistics.median(times) * 1000:.1f} ms"
        )


if __name__ == "__main__":
    main()
