"""Pick the HNSW library by measurement: usearch vs hnswlib vs faiss on the same vectors.

    python bench/million_choose.py --n 100000 --model use   (see bench/million.md)

Each library builds an HNSW graph (M=16, efConstruction=128, 2 threads) over the
same derived vectors (bench/million_data.py), then answers the same held-out
queries one at a time (single thread, like one request). Reported: build time,
recall@10 against the exact top 10, median query time, save/load time and RSS
growth. Needs the candidates installed (pip install usearch hnswlib faiss-cpu).
"""

from __future__ import annotations

import argparse
import gc
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
from million_data import base_vectors, derive, derived

K = 10


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def exact_top(data: np.ndarray, queries: np.ndarray) -> np.ndarray:
    out = np.zeros((len(queries), K), dtype=np.int64)
    best = np.full((len(queries), K), -np.inf, dtype=np.float32)
    for at in range(0, len(data), 100_000):
        block = np.asarray(data[at : at + 100_000], dtype=np.float32)
        s = queries @ block.T
        cand = np.concatenate([best, s], axis=1)
        ids = np.concatenate(
            [out, np.arange(at, at + len(block))[None, :].repeat(len(queries), 0)], axis=1
        )
        top = np.argsort(-cand, axis=1)[:, :K]
        best = np.take_along_axis(cand, top, 1)
        out = np.take_along_axis(ids, top, 1)
    return out


def run(
    name: str,
    build: Callable[[], object],
    query: Callable[[object, np.ndarray], np.ndarray],
    save: Callable[[object, str], None],
    load: Callable[[str], object],
    queries: np.ndarray,
    truth: np.ndarray,
) -> dict[str, float]:
    gc.collect()
    before = rss_mb()
    t = time.perf_counter()
    index = build()
    build_s = time.perf_counter() - t
    grown = rss_mb() - before
    times = []
    found = []
    for q in queries:
        t = time.perf_counter()
        found.append(query(index, q))
        times.append(time.perf_counter() - t)
    recall = float(
        np.mean([len(set(f[:K]) & set(tr)) / K for f, tr in zip(found, truth, strict=True)])
    )
    with tempfile.TemporaryDirectory() as tmp:
        path = f"{tmp}/{name}.idx"
        t = time.perf_counter()
        save(index, path)
        save_s = time.perf_counter() - t
        size = Path(path).stat().st_size / 2**20
        del index
        gc.collect()
        t = time.perf_counter()
        loaded = load(path)
        load_s = time.perf_counter() - t
        again = query(loaded, queries[0])
        assert len(again) > 0
    row = {
        "build_s": build_s,
        "recall@10": recall,
        "p50_ms": 1000 * statistics.median(times),
        "save_s": save_s,
        "load_s": load_s,
        "file_mb": size,
        "rss_mb": grown,
    }
    print(name, " ".join(f"{k}={v:.3f}" for k, v in row.items()), flush=True)
    return row


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--model", default="use", choices=["use", "e5"])
    ap.add_argument("--base", type=int, default=2000)
    ap.add_argument("--queries", type=int, default=200)
    ap.add_argument("--ef", type=int, default=64)
    ap.add_argument("--only", default="usearch,hnswlib,faiss")
    args = ap.parse_args()
    data16 = derived(args.model, args.base, args.n)
    data = np.asarray(data16, dtype=np.float32)
    dim = data.shape[1]
    queries = derive(base_vectors(args.model, args.base), args.queries, seed=999)
    truth = exact_top(data, queries)
    keys = np.arange(args.n, dtype=np.uint64)
    print(f"n={args.n} dim={dim} queries={args.queries} ef_search={args.ef}", flush=True)

    if "usearch" in args.only:
        from usearch.index import Index

        def u_build() -> object:
            ix = Index(
                ndim=dim,
                metric="ip",
                dtype="f16",
                connectivity=16,
                expansion_add=128,
                expansion_search=args.ef,
            )
            ix.add(keys, data, threads=2)
            return ix

        def u_view(path: str) -> object:
            ix = Index.restore(path, view=True)
            ix.expansion_search = args.ef
            return ix

        run(
            "usearch-f16",
            u_build,
            lambda ix, q: ix.search(q, K, threads=1).keys,  # type: ignore[attr-defined]
            lambda ix, p: ix.save(p),
            u_view,
            queries,
            truth,
        )  # type: ignore[attr-defined]
    if "hnswlib" in args.only:
        import hnswlib

        def h_build() -> object:
            ix = hnswlib.Index(space="ip", dim=dim)
            ix.init_index(max_elements=args.n, ef_construction=128, M=16)
            ix.set_num_threads(2)
            ix.add_items(data, keys.astype(np.int64))
            ix.set_ef(args.ef)
            ix.set_num_threads(1)
            return ix

        def h_load(path: str) -> object:
            ix = hnswlib.Index(space="ip", dim=dim)
            ix.load_index(path)
            ix.set_ef(args.ef)
            return ix

        run(
            "hnswlib-f32",
            h_build,
            lambda ix, q: ix.knn_query(q, K)[0][0],  # type: ignore[attr-defined]
            lambda ix, p: ix.save_index(p),
            h_load,
            queries,
            truth,
        )  # type: ignore[attr-defined]
    if "faiss" in args.only:
        import faiss

        faiss.omp_set_num_threads(2)

        def f_build() -> object:
            ix = faiss.IndexHNSWSQ(
                dim, faiss.ScalarQuantizer.QT_fp16, 16, faiss.METRIC_INNER_PRODUCT
            )
            ix.hnsw.efConstruction = 128
            ix.train(data[:10000])
            ix.add(data)
            ix.hnsw.efSearch = args.ef
            return ix

        def f_query(ix: object, q: np.ndarray) -> np.ndarray:
            faiss.omp_set_num_threads(1)
            return ix.search(q[None, :], K)[1][0]  # type: ignore[attr-defined]

        def f_load(path: str) -> object:
            ix = faiss.read_index(path, faiss.IO_FLAG_MMAP)
            ix.hnsw.efSearch = args.ef
            return ix

        run(
            "faiss-hnsw-sq-fp16",
            f_build,
            f_query,
            lambda ix, p: faiss.write_index(ix, p),
            f_load,
            queries,
            truth,
        )


if __name__ == "__main__":
    main()
