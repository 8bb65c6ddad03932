"""Sweep fusion methods and cut-off constants over collected candidates.

Collects each evaluation set once (ingest + embed into a temporary home, both
retrievers' candidates for every query; cached as JSON under /tmp, outside the
repository), then scores every parameter combination from memory.

    .venv/bin/python bench/tune_fusion.py [--fresh]
"""

from __future__ import annotations

import argparse
import itertools
import json
import tempfile
import time
from dataclasses import asdict
from pathlib import Path

from newsdesk import load_settings, open_engine
from newsdesk.evaluation import datasets
from newsdesk.evaluation.retrieval import Collected, QueryRun, collect, ingest_set, score
from newsdesk.ranking import FusionParams

ROOT = Path(__file__).resolve().parents[1].parent / "shared" / "data"
CACHE = Path(tempfile.gettempdir()) / "newsdesk-tune"


def sets() -> list[datasets.EvalSet]:
    return [
        datasets.load_disc(ROOT),
        datasets.load_finnl(ROOT, splits=("eval",)),
        datasets.load_reuters(ROOT, max_docs=1500),
        datasets.load_wmt(ROOT, haystack=500, sentences_per_doc=2),
    ]


def gather(es: datasets.EvalSet, fresh: bool) -> Collected:
    cache = CACHE / f"{es.name}.json"
    if cache.exists() and not fresh:
        data = json.loads(cache.read_text())
        data["runs"] = [QueryRun(**r) for r in data["runs"]]
        for r in data["runs"]:
            r.relevant = set(r.relevant)
        return Collected(**data)
    with tempfile.TemporaryDirectory() as tmp:
        settings = load_settings(home=tmp, environ={})
        with open_engine(settings) as engine:
            t0 = time.perf_counter()
            stored = ingest_set(engine, es)
            t1 = time.perf_counter()
            engine.embed_pending()
            t2 = time.perf_counter()
            got = collect(engine, es, stored)
            got.extra = {"ingest_s": round(t1 - t0, 1), "embed_s": round(t2 - t1, 1)}
    CACHE.mkdir(exist_ok=True)
    data = asdict(got)
    for r in data["runs"]:
        r["relevant"] = sorted(r["relevant"])
    cache.write_text(json.dumps(data, ensure_ascii=False))
    return got


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--fresh", action="store_true")
    args = ap.parse_args()
    collected = []
    for es in sets():
        got = gather(es, args.fresh)
        print(got.name, got.documents, "docs", len(got.runs), "queries", got.extra, flush=True)
        collected.append(got)

    print("\n== ranking (no cut-off): ndcg@10 / recall@10 / p@10 ==")
    for c in collected:
        for mode in ("lexical", "semantic"):
            m = score(c, mode, FusionParams())
            print(f"{c.name:8} {mode:22} {m['ndcg@10']:.4f} {m['recall@10']:.4f} {m['p@10']:.4f}")
        for method, k, w in itertools.chain(
            itertools.product(["rrf"], [10, 30, 60], [0.3, 0.5, 0.6, 0.7]),
            itertools.product(["convex"], [0], [0.3, 0.5, 0.6, 0.7]),
        ):
            for floor in [0.2, 0.3, 0.4] if method == "convex" else [0.35]:
                p = FusionParams(method=method, rrf_k=k, semantic_weight=w, semantic_floor=floor)
                m = score(c, "hybrid", p)
                label = f"{method} k={k} w={w} f={floor}"
                print(
                    f"{c.name:8} {label:22} {m['ndcg@10']:.4f} {m['recall@10']:.4f} {m['p@10']:.4f}"
                )

    print("\n== cut-off: P / R / F1 of the kept set (hybrid) ==")
    for lex_floor, sem_floor in itertools.product(
        [0.2, 0.3, 0.4, 0.5], [0.3, 0.35, 0.4, 0.45, 0.5, 0.55]
    ):
        row = []
        for c in collected:
            m = score(c, "hybrid", FusionParams(lexical_floor=lex_floor, semantic_floor=sem_floor))
            row.append(f"{c.name}={m['cutoff_p']:.2f}/{m['cutoff_r']:.2f}/{m['cutoff_f1']:.3f}")
        print(f"lex>={lex_floor} cos>={sem_floor}: " + "  ".join(row))


if __name__ == "__main__":
    main()
