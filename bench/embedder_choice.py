"""Choose the default offline embedder by measurement: USE-m3 vs multilingual-e5-small.

Dense retrieval only (no BM25, no fusion), on fixed subsets of the shared evaluation
sets, with each document embedded as title + lead (first LEAD characters). Prints
quality per set and throughput on this machine.

    .venv/bin/python bench/embedder_choice.py [--lead 512] [--reuters-docs 600]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from newsdesk.embed.local import E5Embedder, USEEmbedder
from newsdesk.evaluation import datasets
from newsdesk.evaluation.metrics import ndcg_at, precision_at, recall_at

ROOT = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def doc_text(d: dict[str, object], lead: int) -> str:
    paras = d["paragraphs"]
    assert isinstance(paras, list)
    return (str(d["title"]) + "\n" + "\n".join(paras))[:lead]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--lead", type=int, default=512)
    ap.add_argument("--reuters-docs", type=int, default=600)
    ap.add_argument("--only", default="")
    args = ap.parse_args()
    sets = [
        datasets.load_disc(ROOT),
        datasets.load_finnl(ROOT, splits=("eval",)),
        datasets.load_reuters(ROOT, max_docs=args.reuters_docs),
        datasets.load_wmt(ROOT, haystack=200, sentences_per_doc=2),
    ]
    embedders = [USEEmbedder(), E5Embedder()]
    if args.only:
        embedders = [e for e in embedders if e.id.startswith(args.only)]
    results: dict[str, dict[str, object]] = {}
    for emb in embedders:
        emb.embed(["warm up"])
        per: dict[str, object] = {}
        total_docs, total_time = 0, 0.0
        for es in sets:
            texts = [doc_text(d, args.lead) for d in es.documents]
            t0 = time.perf_counter()
            mat = emb.embed(texts)
            dt = time.perf_counter() - t0
            total_docs += len(texts)
            total_time += dt
            ids = [str(d["id"]) for d in es.documents]
            qids = list(es.queries)
            t0 = time.perf_counter()
            qmat = emb.embed([es.queries[q] for q in qids], query=True)
            qdt = (time.perf_counter() - t0) / max(1, len(qids))
            scores = qmat @ mat.T
            nd, rc, pr = [], [], []
            for i, q in enumerate(qids):
                top = np.argsort(-scores[i])[:10]
                ranked = [ids[j] for j in top]
                nd.append(ndcg_at(ranked, es.qrels[q], 10))
                rc.append(recall_at(ranked, es.qrels[q], 10))
                pr.append(precision_at(ranked, es.qrels[q], 10))
            per[es.name] = {
                "docs": len(ids),
                "queries": len(qids),
                "ndcg@10": round(float(np.mean(nd)), 4),
                "recall@10": round(float(np.mean(rc)), 4),
                "p@10": round(float(np.mean(pr)), 4),
                "docs_per_s": round(len(texts) / dt, 1),
                "query_ms": round(qdt * 1000, 2),
            }
            print(emb.id, es.name, per[es.name], flush=True)
        per["overall_docs_per_s"] = round(total_docs / total_time, 1)
        results[emb.id] = per
    print(json.dumps(results, indent=2, ensure_ascii=False))


if __name__ == "__main__":
    main()
