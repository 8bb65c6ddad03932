"""The OpenSearch backend: the same searches as the local index, answered by a cluster.

- **Words**: the jieba-rs / folded tokens the local index uses are sent pre-segmented to
  fields analyzed by whitespace only (no Chinese analyzer plugin is needed), so query
  and index agree on every term exactly as tantivy does; BM25 with titles boosted
  x2, ``"phrases"`` as phrase queries, ``-word`` as exclusions, filters on dates,
  language, source and category. Each field also has an English-analyzed sub-field
  (stemming, stop words) that adds to the score of documents the terms matched
  (:data:`ENGLISH_BOOST`, measured in ``bench/opensearch.md``).
- **Vectors**: a ``knn_vector`` field, lucene HNSW, cosine similarity, filtered k-NN
  (the filter is applied while walking the graph). Lucene scores cosine as
  ``(1 + cos) / 2``; the scores are turned back into cosines so the relevance
  cut-off of :mod:`newsdesk.ranking` means the same for both backends.
- **Hybrid**: fusion stays client-side in :mod:`newsdesk.ranking` (chosen by
  measurement over the neural-search ``hybrid`` query, see :func:`neural_hybrid` and
  ``bench/opensearch.md``): it keeps each retriever's own score for the relevance
  cut-off and the feedback vector's list, which a server-side fused score loses.

Collapse of syndicated copies, the newest-first sort of the relevant set, paging and
the timeline run in :mod:`newsdesk.search` over the fused relevant set, as for the
local backend; browsing (a query with filters only) collapses stories in the cluster.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray

from newsdesk.errors import SearchIndexError
from newsdesk.index.lexical import TITLE_BOOST, IndexTerms, LexicalHit, LexicalQuery
from newsdesk.index.opensearch_cluster import STATE, OpenSearchCluster
from newsdesk.index.vectors import VectorFilter, VectorHit, VectorIndex
from newsdesk.ranking import TermPresence, idf

# Weight of the English-analyzed sub-fields beside the exact terms (0 leaves them out).
ENGLISH_BOOST = 0.0


def _filters(
    since_ts: int | None,
    until_ts: int | None,
    fields: Sequence[tuple[str, Sequence[str]]],
) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    if since_ts is not None or until_ts is not None:
        bounds: dict[str, int] = {}
        if since_ts is not None:
            bounds["gte"] = since_ts
        if until_ts is not None:
            bounds["lte"] = until_ts
        out.append({"range": {"ts": bounds}})
    for name, values in fields:
        if values:
            out.append({"terms": {name: list(values)}})
    return out


def query_filters(q: LexicalQuery | VectorFilter) -> list[dict[str, Any]]:
    """The filter clauses (dates, language, source, category) of a query."""
    return _filters(
        q.since_ts,
        q.until_ts,
        (("lang", q.langs), ("source", q.sources), ("category", q.categories)),
    )


def _term(field: str, term: str) -> dict[str, Any]:
    if field == "title":
        return {"term": {field: {"value": term, "boost": TITLE_BOOST}}}
    return {"term": {field: term}}


def _phrase(field: str, phrase: Sequence[str]) -> dict[str, Any]:
    if len(phrase) == 1:
        return _term(field, phrase[0])
    clause: dict[str, Any] = {"query": " ".join(phrase)}
    if field == "title":
        clause["boost"] = TITLE_BOOST
    return {"match_phrase": {field: clause}}


def _phrases(phrases: Sequence[Sequence[str]]) -> list[dict[str, Any]]:
    return [{"bool": {"should": [_phrase(f, p) for f in ("title", "body")]}} for p in phrases]


def _excluded(terms: Sequence[str]) -> list[dict[str, Any]]:
    return [{"term": {f: t}} for t in terms for f in ("title", "body")]


def lexical_query(q: LexicalQuery, english_boost: float = ENGLISH_BOOST) -> dict[str, Any]:
    """The OpenSearch query for a parsed query: the same clauses the tantivy index builds."""
    must: list[dict[str, Any]] = []
    terms = list(dict.fromkeys(q.terms))
    if terms:
        must.append({"bool": {"should": [_term(f, t) for t in terms for f in ("title", "body")]}})
    must.extend(_phrases(q.phrases))
    clause: dict[str, Any] = {"must": must}
    if english_boost > 0 and terms:
        text = " ".join(terms)
        clause["should"] = [
            {"match": {"title.en": {"query": text, "boost": english_boost * TITLE_BOOST}}},
            {"match": {"body.en": {"query": text, "boost": english_boost}}},
        ]
    if q.excluded:
        clause["must_not"] = _excluded(q.excluded)
    flt = query_filters(q)
    if flt:
        clause["filter"] = flt
    return {"bool": clause}


class OpenSearchLexical:
    """Lexical search and the index lifecycle on a cluster (the :class:`SearchIndex` seam)."""

    def __init__(self, cluster: OpenSearchCluster, english_boost: float = ENGLISH_BOOST) -> None:
        self.cluster = cluster
        self.english_boost = english_boost

    # -- lifecycle -------------------------------------------------------------------------
    @property
    def watermark(self) -> int:
        return self.cluster.watermark

    def pending(self) -> int:
        store = self.cluster.store
        return store.count_documents() - store.count_documents(self.watermark)

    def behind(self) -> bool:
        return self.cluster.behind()

    def watermark_where(self) -> str:
        return f"store:{STATE}"

    def delete(self, ids: Sequence[str]) -> None:
        """Remove documents now (a catch-up also applies the store's deletions itself)."""
        self.cluster.delete(ids)

    def catch_up(
        self,
        progress: Callable[[int], None] | None = None,
        terms: Mapping[str, IndexTerms] | None = None,
    ) -> int:
        return self.cluster.catch_up(progress, terms)

    def catch_up_vectors(self, progress: Callable[[int], None] | None = None) -> int:
        return self.cluster.catch_up_vectors(progress)

    def rebuild(self, progress: Callable[[int], None] | None = None) -> int:
        return self.cluster.rebuild(progress)

    def reload(self) -> None:
        """The cluster refreshes its own searchers; only a rebuild elsewhere matters."""
        self.cluster.reload()

    def num_docs(self) -> int:
        return self.cluster.count()

    def describe(self) -> dict[str, Any]:
        return self.cluster.describe()

    def drop(self) -> None:
        self.cluster.drop()

    # -- queries ---------------------------------------------------------------------------
    def build(self, query: LexicalQuery) -> dict[str, Any]:
        return lexical_query(query, self.english_boost)

    def search(self, query: LexicalQuery, limit: int) -> list[LexicalHit]:
        if query.empty:
            return []
        body = {
            "query": self.build(query),
            "size": limit,
            "_source": False,
            "track_total_hits": False,
        }
        found = self.cluster.search(body)
        return [LexicalHit(h["_id"], float(h["_score"])) for h in found["hits"]["hits"]]

    def matching(self, query: LexicalQuery, ids: Sequence[str]) -> set[str]:
        """Those of ``ids`` that satisfy the query's phrases, exclusions and filters."""
        if not ids:
            return set()
        clause: dict[str, Any] = {
            "filter": [
                {"ids": {"values": list(ids)}},
                *_phrases(query.phrases),
                *query_filters(query),
            ]
        }
        if query.excluded:
            clause["must_not"] = _excluded(query.excluded)
        body = {
            "query": {"bool": clause},
            "size": len(ids),
            "_source": False,
            "track_total_hits": False,
        }
        found = self.cluster.search(body, "vetting semantic matches")
        return {h["_id"] for h in found["hits"]["hits"]}

    def term_weights(self, terms: Sequence[str]) -> tuple[float, ...]:
        """BM25's inverse document frequency of each term, from one counting request."""
        if not terms:
            return ()
        filters = {
            f"t{i}": {"bool": {"should": [{"term": {f: t}} for f in ("title", "body")]}}
            for i, t in enumerate(terms)
        }
        body = {
            "size": 0,
            "track_total_hits": True,
            "aggs": {"df": {"filters": {"filters": filters}}},
        }
        found = self.cluster.search(body, "counting query terms")
        n = int(found["hits"]["total"]["value"])
        buckets = found["aggregations"]["df"]["buckets"]
        return tuple(idf(int(buckets[f"t{i}"]["doc_count"]), n) for i in range(len(terms)))

    def presence(
        self, terms: Sequence[str], ids: Sequence[str], lang: str = ""
    ) -> dict[str, TermPresence]:
        """Which of ``terms`` each of ``ids`` holds, in one request (named queries)."""
        if not ids:
            return {}
        named = [
            {"term": {f: {"value": t, "_name": f"{f[0]}{i}"}}}
            for i, t in enumerate(terms[:30])
            for f in ("title", "body")
        ]
        if lang:
            named.append({"term": {"lang": {"value": lang, "_name": "lang"}}})
        body = {
            "query": {"bool": {"filter": [{"ids": {"values": list(ids)}}], "should": named}},
            "size": len(ids),
            "_source": False,
            "track_total_hits": False,
        }
        found = self.cluster.search(body, "looking up query terms")
        out = {d: TermPresence(0, 0, not lang) for d in ids}
        for h in found["hits"]["hits"]:
            anywhere = title = 0
            names = set(h.get("matched_queries") or ())
            for i in range(min(len(terms), 30)):
                if f"t{i}" in names:
                    title |= 1 << i
                if f"t{i}" in names or f"b{i}" in names:
                    anywhere |= 1 << i
            out[h["_id"]] = TermPresence(anywhere, title, not lang or "lang" in names)
        return out

    def browse(self, query: LexicalQuery, limit: int) -> list[LexicalHit]:
        """Newest documents matching only the filters, one per story."""
        flt = query_filters(query)
        body = {
            "query": {"bool": {"filter": flt}} if flt else {"match_all": {}},
            "sort": [{"ts": {"order": "desc", "missing": "_last"}}],
            "collapse": {"field": "story"},
            "size": limit,
            "_source": False,
            "track_total_hits": False,
        }
        found = self.cluster.search(body, "browsing")
        return [LexicalHit(h["_id"], 0.0) for h in found["hits"]["hits"]]


def cosine_of(score: float) -> float:
    """Lucene's cosine score ``(1 + cos) / 2`` back to the cosine."""
    return 2.0 * score - 1.0


class OpenSearchVectors:
    """Vector search on the cluster's lucene HNSW field (the ``VectorBackend`` seam).

    Embedding stays local (``embedding`` embeds queries and documents into the
    store); the cluster holds and searches the vectors.
    """

    def __init__(self, cluster: OpenSearchCluster, embedding: VectorIndex) -> None:
        self.cluster = cluster
        self.embedding = embedding

    @property
    def stale_reason(self) -> str:
        return self.embedding.stale_reason or self.cluster.rebuild_reason

    @property
    def usable(self) -> bool:
        # Read from the store only: a search must not pay a round trip to learn this.
        return not self.stale_reason and self.cluster.vector_watermark > 0

    def embed_query(self, text: str) -> NDArray[np.float32]:
        return self.embedding.embed_query(text)

    def vectors_of(self, ids: Sequence[str], lang: str = "") -> NDArray[np.float32]:
        return self.embedding.vectors_of(ids, lang)

    def knn_body(
        self, vector: NDArray[np.float32], limit: int, flt: VectorFilter | None = None
    ) -> dict[str, Any]:
        knn: dict[str, Any] = {"vector": [float(x) for x in vector], "k": limit}
        clauses = query_filters(flt or VectorFilter())
        if clauses:
            knn["filter"] = {"bool": {"filter": clauses}}
        return {
            "query": {"knn": {"vector": knn}},
            "size": limit,
            "_source": False,
            "track_total_hits": False,
        }

    def search_batch(
        self, queries: NDArray[np.float32], limit: int, flt: VectorFilter | None = None
    ) -> list[list[VectorHit]]:
        """The ``limit`` nearest documents to each row of ``queries``, in one request."""
        if limit <= 0 or queries.shape[0] == 0:
            return [[] for _ in range(queries.shape[0])]
        dim = self.cluster.dim
        if queries.shape[1] != dim:
            raise SearchIndexError(
                f"query vector has {queries.shape[1]} dimensions, the index {dim}"
            )
        bodies = [self.knn_body(row, limit, flt) for row in queries]
        answers = self.cluster.msearch(bodies, "searching by meaning")
        return [
            [VectorHit(h["_id"], cosine_of(float(h["_score"]))) for h in a["hits"]["hits"]]
            for a in answers
        ]

    def search(
        self, query: NDArray[np.float32], limit: int, flt: VectorFilter | None = None
    ) -> list[VectorHit]:
        return self.search_batch(query[None, :], limit, flt)[0]


# -- the neural-search hybrid query, measured against client-side fusion -------------------
def hybrid_pipeline(
    technique: str, weights: Sequence[float], rank_constant: int = 60
) -> dict[str, Any]:
    """A search pipeline that fuses the sub-queries of a ``hybrid`` query in the cluster.

    ``min_max``: scores normalized per sub-query and averaged with ``weights``;
    ``rrf``: reciprocal rank fusion (weights ignored).
    """
    if technique == "rrf":
        processor = {
            "score-ranker-processor": {
                "combination": {"technique": "rrf", "rank_constant": rank_constant}
            }
        }
    else:
        total = sum(weights)
        processor = {
            "normalization-processor": {
                "normalization": {"technique": technique},
                "combination": {
                    "technique": "arithmetic_mean",
                    "parameters": {"weights": [round(w / total, 4) for w in weights]},
                },
            }
        }
    return {"description": "newsdesk hybrid fusion", "phase_results_processors": [processor]}


def put_pipeline(cluster: OpenSearchCluster, name: str, body: Mapping[str, Any]) -> None:
    with cluster.errors("creating a search pipeline"):
        cluster.client.transport.perform_request("PUT", f"/_search/pipeline/{name}", body=body)


def neural_hybrid(
    lexical: OpenSearchLexical,
    vectors: OpenSearchVectors,
    query: LexicalQuery,
    qvecs: NDArray[np.float32],
    limit: int,
    pipeline: str,
) -> list[tuple[str, float]]:
    """One ``hybrid`` query (BM25 + a k-NN clause per query vector) fused by ``pipeline``."""
    flt = VectorFilter(
        since_ts=query.since_ts,
        until_ts=query.until_ts,
        langs=query.langs,
        sources=query.sources,
        categories=query.categories,
    )
    queries = [lexical.build(query)] if not query.empty else []
    queries += [vectors.knn_body(row, limit, flt)["query"] for row in qvecs]
    body = {
        "query": {"hybrid": {"queries": queries}},
        "size": limit,
        "_source": False,
    }
    with lexical.cluster.errors("searching (hybrid query)"):
        found = lexical.cluster.client.search(
            index=lexical.cluster.alias, body=body, params={"search_pipeline": pipeline}
        )
    return [(h["_id"], float(h["_score"])) for h in found["hits"]["hits"]]
