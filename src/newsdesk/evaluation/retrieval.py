"""Retrieval evaluation: BM25 alone, embeddings alone and the fused ranking, side by side.

An evaluation set is ingested into a fresh home through the normal engine (so
de-duplication, tokenizing and embedding are the real ones), each query's
candidates are collected once from both retrievers, and every mode is scored from
those same candidates. Results are compared per *story*, as users see them:
near-duplicate copies collapse into one result, and a story is relevant when any
of its copies is judged relevant.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from newsdesk.engine import Engine
from newsdesk.evaluation.datasets import EvalSet
from newsdesk.evaluation.metrics import ndcg_at, precision_at, recall_at, set_f1
from newsdesk.ingest import RawRecord
from newsdesk.ranking import FusionParams, Ranked, TermPresence, cutoff, fuse, with_presence
from newsdesk.search import SearchRequest

MODES = ("lexical", "semantic", "hybrid")
K = 10


@dataclass
class QueryRun:
    """One query's candidates (document ids mapped to story ids) and its relevant stories."""

    qid: str
    lexical: list[tuple[str, float]]
    semantic: list[tuple[str, float]]
    relevant: set[str]
    feedback: list[tuple[str, float]] = field(default_factory=list)
    # story -> [term bits anywhere, term bits in the title, same language (0/1)]
    presence: dict[str, list[int]] = field(default_factory=dict)
    term_weights: list[float] = field(default_factory=list)

    def fused(self, params: FusionParams, mode: str = "hybrid") -> list[Ranked]:
        """The fused candidates of ``mode``, with the query-term presence the search adds."""
        lexical = self.lexical if mode != "semantic" else []
        semantic = self.semantic if mode != "lexical" else []
        feedback = self.feedback if mode == "hybrid" else []
        fused = fuse(lexical, semantic, params, feedback)
        if mode != "hybrid" or not self.presence:
            return fused
        presence = {s: TermPresence(a, t, bool(same)) for s, (a, t, same) in self.presence.items()}
        return with_presence(fused, presence, self.term_weights)


@dataclass
class Collected:
    name: str
    runs: list[QueryRun]
    documents: int
    stories: int
    notes: str = ""
    metrics: tuple[str, ...] = ()
    ingest_seconds: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)


def ingest_set(
    engine: Engine,
    evalset: EvalSet,
    progress: Callable[[int], None] | None = None,
) -> dict[str, str]:
    """Ingest the set's documents; returns each given id -> the id it is stored under."""
    records = (RawRecord(origin=f"{evalset.name}:{d['id']}", fields=d) for d in evalset.documents)
    report = engine.ingest_records(
        records,
        (lambda _r: progress(1)) if progress else None,
        defer_embeddings=True,
    )
    stored: dict[str, str] = {}
    for given, result in zip(evalset.documents, report.results, strict=True):
        if result.outcome in ("accepted", "updated", "unchanged"):
            stored[str(given["id"])] = result.doc_id
        elif result.outcome == "duplicate":
            stored[str(given["id"])] = result.duplicate_of
    return stored


def _stories(engine: Engine, hits: Sequence[tuple[str, float]]) -> list[tuple[str, float]]:
    story_of = engine.store.story_of([d for d, _ in hits])
    seen: dict[str, float] = {}
    for doc_id, score in hits:
        story = story_of.get(doc_id) or doc_id
        if story not in seen:
            seen[story] = score
    return list(seen.items())


def collect(
    engine: Engine,
    evalset: EvalSet,
    stored: dict[str, str],
    progress: Callable[[int], None] | None = None,
) -> Collected:
    """Run every query once through both retrievers (hybrid mode) and keep the candidates."""
    story_of = engine.store.story_of(list(set(stored.values())))
    runs = []
    for qid, text in evalset.queries.items():
        relevant = {
            story_of.get(stored[d], stored[d]) for d in evalset.qrels.get(qid, ()) if d in stored
        }
        found = engine.searcher.candidates(SearchRequest(query=text, mode="hybrid"), every=True)
        of_story = engine.store.story_of(list(found.presence))
        presence: dict[str, list[int]] = {}
        for doc_id, p in found.presence.items():
            presence.setdefault(
                of_story.get(doc_id) or doc_id, [p.anywhere, p.title, int(p.same_lang)]
            )
        runs.append(
            QueryRun(
                qid,
                _stories(engine, found.lexical),
                _stories(engine, found.semantic),
                relevant,
                _stories(engine, found.feedback),
                presence,
                list(found.term_weights),
            )
        )
        if progress is not None:
            progress(1)
    return Collected(
        evalset.name,
        runs,
        documents=engine.store.count_documents(),
        stories=engine.store.count_stories(),
        notes=evalset.notes,
        metrics=evalset.metrics,
    )


def ranking(run: QueryRun, mode: str, params: FusionParams) -> tuple[list[str], list[str]]:
    """(ranked story ids, the relevant set kept by the cut-off) for one mode."""
    # One retriever alone: its own scores order the results (its cut-off still applies).
    if mode == "lexical":
        params = replace(params, method="convex", semantic_weight=0.0)
    elif mode == "semantic":
        params = replace(params, method="convex", semantic_weight=1.0)
    fused = run.fused(params, mode)
    kept = cutoff(fused, params)
    return [r.id for r in fused], [r.id for r in kept]


def score(collected: Collected, mode: str, params: FusionParams) -> dict[str, float]:
    """Mean metrics of one mode over the collected queries."""
    values: dict[str, list[float]] = {
        "ndcg@10": [],
        "recall@10": [],
        "p@10": [],
        "cutoff_p": [],
        "cutoff_r": [],
        "cutoff_f1": [],
    }
    for run in collected.runs:
        if not run.relevant:
            continue
        # Ranking quality is judged before the cut-off (the standard measure), and the
        # cut-off separately, as the set it keeps against the relevant set.
        ranked, kept = ranking(run, mode, params)
        values["ndcg@10"].append(ndcg_at(ranked, run.relevant, K))
        values["recall@10"].append(recall_at(ranked, run.relevant, K))
        values["p@10"].append(precision_at(ranked, run.relevant, K))
        p, r, f1 = set_f1(kept, run.relevant)
        values["cutoff_p"].append(p)
        values["cutoff_r"].append(r)
        values["cutoff_f1"].append(f1)
    return {k: round(statistics.fmean(v), 4) if v else 0.0 for k, v in values.items()}


def report(collected: Collected, params: FusionParams) -> dict[str, Any]:
    """Every mode's metrics for one set, in a JSON-ready dict."""
    return {
        "set": collected.name,
        "notes": collected.notes,
        "documents": collected.documents,
        "stories": collected.stories,
        "queries": sum(1 for r in collected.runs if r.relevant),
        "metrics": list(collected.metrics),
        "modes": {mode: score(collected, mode, params) for mode in MODES},
    }
