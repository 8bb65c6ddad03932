"""Retrieval quality of the OpenSearch backend beside the local one, on the same store.

For each evaluation set: ingest and embed once (local backend, the normal engine), score
BM25 / embeddings / fusion through the local index, then open the *same* home with
``index_backend = "opensearch"`` (the catch-up sends every document and its vector to
the cluster) and score the same queries through the cluster. Only the index differs.

Then the neural-search ``hybrid`` query (fusion inside the cluster, by a search
pipeline) is scored on the same queries against client-side fusion, with the same
lists: BM25, the query vector and the feedback vector.

    .venv/bin/python bench/opensearch_parity.py --url http://127.0.0.1:9200 [--set disc ...]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from newsdesk import load_settings, open_engine
from newsdesk.engine import Engine
from newsdesk.evaluation import datasets
from newsdesk.evaluation.metrics import ndcg_at
from newsdesk.evaluation.retrieval import MODES, collect, ingest_set, report
from newsdesk.index.opensearch import (
    OpenSearchLexical,
    OpenSearchVectors,
    hybrid_pipeline,
    neural_hybrid,
    put_pipeline,
)
from newsdesk.search import SearchRequest, parse_request

ROOT = Path(__file__).resolve().parents[1].parent / "shared" / "data"
PIPELINES = {
    # (technique, weights of BM25 / query vector / feedback vector, rank constant)
    "min_max, weights 0.15/0.85/0.5": ("min_max", (0.15, 0.85, 0.5), 0),
    "l2, weights 0.15/0.85/0.5": ("l2", (0.15, 0.85, 0.5), 0),
    "rrf, k=60": ("rrf", (1, 1, 1), 60),
    "rrf, k=2": ("rrf", (1, 1, 1), 2),
}


def load(name: str) -> datasets.EvalSet:
    if name == "disc":
        return datasets.load_disc(ROOT)
    if name == "finnl":
        return datasets.load_finnl(ROOT)
    if name == "reuters":
        return datasets.load_reuters(ROOT)
    return datasets.load_wmt(ROOT, haystack=2000, sentences_per_doc=2)


def neural_scores(
    engine: Engine, evalset: datasets.EvalSet, stored: dict[str, str]
) -> dict[str, dict[str, float]]:
    """nDCG@10 of each hybrid-query pipeline, and its latency, over the set's queries."""
    lexical = engine.lexical
    vectors = engine.searcher.vectors
    assert isinstance(lexical, OpenSearchLexical) and isinstance(vectors, OpenSearchVectors)
    # A pipeline's weights must match the number of sub-queries: one pipeline per
    # count (BM25 + query vector, and + feedback vector when there is one).
    names: dict[str, dict[int, str]] = {}
    for i, (label, (technique, weights, k)) in enumerate(PIPELINES.items()):
        names[label] = {}
        for n in (2, 3):
            name = f"{lexical.cluster.alias}-p{i}-{n}"
            put_pipeline(lexical.cluster, name, hybrid_pipeline(technique, weights[:n], k))
            names[label][n] = name
    story_of = engine.store.story_of(list(set(stored.values())))
    limit = engine.searcher.policy.max_relevant
    values: dict[str, list[float]] = {label: [] for label in names}
    timings: dict[str, list[float]] = {label: [] for label in names}
    for qid, text in evalset.queries.items():
        relevant = {
            story_of.get(stored[d], stored[d]) for d in evalset.qrels.get(qid, ()) if d in stored
        }
        if not relevant:
            continue
        request = SearchRequest(query=text, mode="hybrid")
        parsed = parse_request(request)
        qvec = vectors.embed_query(parsed.semantic_text)
        found = engine.searcher.candidates(request, parsed)
        moved = engine.searcher._feedback_vector(vectors, qvec, parsed.semantic_text, found.lexical)
        rows = np.stack([qvec] if moved is None else [qvec, moved])
        for label, by_count in names.items():
            pipeline = by_count[1 + rows.shape[0]]
            t0 = time.perf_counter()
            hits = neural_hybrid(lexical, vectors, parsed.lexical, rows, limit, pipeline)
            timings[label].append(time.perf_counter() - t0)
            story_ids: dict[str, None] = {}
            for doc_id, _ in hits:
                story_ids.setdefault(story_of.get(doc_id, doc_id))
            values[label].append(ndcg_at(list(story_ids), relevant, 10))
    return {
        label: {
            "ndcg@10": round(statistics.fmean(v), 4) if v else 0.0,
            "p50_ms": round(float(np.percentile(timings[label], 50)) * 1000, 2),
        }
        for label, v in values.items()
    }


def client_hybrid_ms(engine: Engine, evalset: datasets.EvalSet) -> float:
    """Median time of the client-side hybrid candidates (3 requests + fusion)."""
    times = []
    for text in evalset.queries.values():
        t0 = time.perf_counter()
        engine.searcher.rank(engine.searcher.candidates(SearchRequest(query=text, mode="hybrid")))
        times.append(time.perf_counter() - t0)
    return round(float(np.percentile(times, 50)) * 1000, 2)


def run_set(name: str, url: str, boosts: list[float]) -> dict[str, Any]:
    evalset = load(name)
    out: dict[str, Any] = {"set": name}
    with tempfile.TemporaryDirectory(prefix="newsdesk-parity-") as tmp:
        local_settings = load_settings(home=tmp, environ={})
        with open_engine(local_settings) as engine:
            t0 = time.perf_counter()
            stored = ingest_set(engine, evalset)
            engine.embed_pending()
            out["ingest_embed_s"] = round(time.perf_counter() - t0, 1)
            local = report(collect(engine, evalset, stored), engine.searcher.policy.fusion)
            out["local_client_hybrid_p50_ms"] = client_hybrid_ms(engine, evalset)
        env = {
            "NEWSDESK_INDEX_BACKEND": "opensearch",
            "NEWSDESK_OPENSEARCH_URL": url,
            "NEWSDESK_OPENSEARCH_INDEX": f"nd-parity-{name}-{os.getpid()}",
            "NEWSDESK_OPENSEARCH_REPLICAS": "0",
        }
        with open_engine(load_settings(home=tmp, environ=env)) as engine:
            try:
                assert engine.lexical.pending() == 0
                remote = report(collect(engine, evalset, stored), engine.searcher.policy.fusion)
                out["opensearch_client_hybrid_p50_ms"] = client_hybrid_ms(engine, evalset)
                out["neural_hybrid"] = neural_scores(engine, evalset, stored)
                # The English-analyzed sub-fields, weighted beside the exact terms.
                assert isinstance(engine.lexical, OpenSearchLexical)
                out["english_boost"] = {}
                for boost in boosts:
                    engine.lexical.english_boost = boost
                    scored = report(collect(engine, evalset, stored), engine.searcher.policy.fusion)
                    out["english_boost"][str(boost)] = {
                        mode: scored["modes"][mode]["ndcg@10"] for mode in ("lexical", "hybrid")
                    }
            finally:
                engine.lexical.drop()
    out["documents"] = local["documents"]
    out["queries"] = local["queries"]
    out["modes"] = {
        mode: {
            metric: {
                "local": local["modes"][mode][metric],
                "opensearch": remote["modes"][mode][metric],
                "diff": round(remote["modes"][mode][metric] - local["modes"][mode][metric], 4),
            }
            for metric in ("ndcg@10", "recall@10", "cutoff_f1")
        }
        for mode in MODES
    }
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--url", required=True, help="A node of the cluster.")
    ap.add_argument("--set", dest="sets", action="append", choices=datasets.SETS)
    ap.add_argument(
        "--english-boost",
        dest="boosts",
        type=float,
        action="append",
        default=[],
        help="Also score with the English sub-fields at this weight (repeatable).",
    )
    args = ap.parse_args()
    results = []
    for name in args.sets or datasets.SETS:
        print(f"{name}...", file=sys.stderr)
        result = run_set(name, args.url, args.boosts)
        results.append(result)
        print(json.dumps(result, ensure_ascii=False), file=sys.stderr)
    print(json.dumps(results, indent=2, ensure_ascii=False))


if __name__ == "__main__":
    main()
