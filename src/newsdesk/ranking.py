"""Fusion of the lexical and semantic rankings, and the relevance cut-off; pure functions.

They take candidate lists (best first, with their raw scores) and know nothing about
where they came from, so any lexical or vector backend fits. Three lists may take
part: BM25 hits, the nearest documents to the query's embedding, and the nearest to
the *feedback* vector (the query's embedding moved towards its best lexical hits,
which says what a short topic word means in this collection).

Fusion methods (``Settings.fusion``):

- ``rrf``: weighted reciprocal rank fusion, ``sum w / (k + rank)`` over the lists a
  document is in. Scale-free and robust; the default.
- ``convex``: a weighted sum of the BM25 score relative to the query's best and the
  cosine similarity above the semantic floor (kept for comparison: best on Reuters,
  far behind on FinNL and the cross-lingual set).

The cut-off decides which documents are *about* the query, independent of their
order: a document is kept when its BM25 score is at least ``lexical_floor`` times the
best one, or its cosine similarity to the query reaches ``semantic_floor`` and
``semantic_ratio`` times the best, or its similarity to the feedback vector reaches
``feedback_floor`` and ``feedback_ratio`` times the best. The absolute floors drop
what is close to nothing; the ratios adapt to how close the best match is, so a
specific question keeps few documents and a broad topic many.

Every constant was chosen by measurement: ``bench/tune_fusion.py`` sweeps them on the
shared evaluation sets, ``bench/retrieval.md`` records the runs and the choice.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

FUSIONS = ("rrf", "convex")


@dataclass(frozen=True, slots=True)
class TermPresence:
    """Which query terms one document holds, for the relevance decision.

    Bit ``i`` of ``anywhere`` is set when the query's ``i``-th term occurs in the
    title or body, of ``title`` when it occurs in the title; ``same_lang`` says the
    document is in the query's language (a Chinese article cannot hold the words
    of an English query, and must not look less relevant for it).
    """

    anywhere: int = 0
    title: int = 0
    same_lang: bool = True


@dataclass(frozen=True, slots=True)
class Ranked:
    """A candidate with its fused score and what each retriever said about it."""

    id: str
    score: float
    lexical: float | None = None
    semantic: float | None = None
    feedback: float | None = None
    # Share of the query's terms the document holds (anywhere / in its title), and
    # whether it is in another language than the query; None: not looked up.
    cover: float | None = None
    title_cover: float | None = None
    other_lang: bool = False


# What the relevance decision looks at for each candidate, in this order (see
# :func:`features`). Scores are made relative to the query's best where their scale
# depends on the query; cosines stay absolute because they mean the same everywhere.
FEATURES = (
    "fused_rel",  # fused score / best fused score
    "log_rank",  # log(1 + rank) in the fused list
    "lex_rel",  # BM25 / best BM25 (0 when BM25 did not find it)
    "has_lex",  # 1 when BM25 found it
    "sem",  # cosine to the query (the weakest seen when not among the nearest)
    "sem_gap",  # best cosine - this one
    "fb",  # cosine to the feedback vector (likewise)
    "fb_gap",  # best feedback cosine - this one
    "log_lex_hits",  # log(1 + BM25 hits): many hits mean a broad or common word
    "cover",  # share of the query's terms in the document (0 in another language)
    "title_cover",  # share of the query's terms in its title (likewise)
    "other_lang",  # 1 when the document is in another language than the query
)


@dataclass(frozen=True, slots=True)
class RelevanceModel:
    """A logistic model of P(relevant | features); kept when ``p >= threshold``.

    Fitted by ``bench/fit_relevance.py`` on judged candidates of the evaluation
    sets; the coefficients are tied to the embedder (cosines differ by model).
    """

    weights: tuple[float, ...] = (0.0,) * len(FEATURES)
    bias: float = 0.0
    threshold: float = 0.5

    def probability(self, row: Sequence[float]) -> float:
        # Added left to right in plain float arithmetic (as ``sum`` did before Python
        # 3.12 made it compensated), so :meth:`probabilities` matches it exactly.
        acc = 0.0
        for w, x in zip(self.weights, row, strict=True):
            acc += w * x
        z = self.bias + acc
        return 1.0 / (1.0 + math.exp(-max(-60.0, min(60.0, z))))

    def could_keep(self, rows: Sequence[Sequence[float]]) -> list[bool]:
        """Whether each candidate could be kept once it is known which query words it
        holds: its probability if it held them as favourably as it could.

        The search looks those words up only where that can change the decision
        (the lookup is the costly part of it). A bound, so never below the truth.
        """
        if not rows:
            return []
        import numpy as np

        x = np.asarray(rows, dtype=np.float64).copy()
        cover, title, other = (FEATURES.index(n) for n in ("cover", "title_cover", "other_lang"))
        x[:, [cover, title, other]] = 0.0
        w = np.asarray(self.weights, dtype=np.float64)
        # The same language: both shares at most 1; another language: the flag alone.
        bonus = max(max(0.0, w[cover]) + max(0.0, w[title]), max(0.0, w[other]))
        z = np.clip(x @ w + self.bias + bonus, -60.0, 60.0)
        p = 1.0 / (1.0 + np.exp(-z))
        return [bool(v) for v in p >= self.threshold - 1e-9]

    def probabilities(self, rows: Sequence[Sequence[float]]) -> list[float]:
        """:meth:`probability` of each row, bit for bit, with one pass per feature.

        The weighted sum adds the features in the same order, in float64, and the
        logistic uses ``math.exp``: the same numbers, not a close approximation (a
        candidate on the threshold is kept or dropped alike).
        """
        if not rows:
            return []
        import numpy as np  # here: the command line imports this module and must start fast

        x = np.asarray(rows, dtype=np.float64)
        if x.shape[1] != len(self.weights):
            raise ValueError(f"rows have {x.shape[1]} features, the model {len(self.weights)}")
        acc = np.zeros(x.shape[0], dtype=np.float64)
        for j, w in enumerate(self.weights):
            acc += w * x[:, j]
        z = (self.bias + acc).tolist()
        return [1.0 / (1.0 + math.exp(-max(-60.0, min(60.0, v)))) for v in z]


# Fitted per embedder (cosines differ by model) by bench/fit_relevance.py; an
# embedder without an entry (hashing, http) gets the broad cut-off.
RELEVANCE_MODELS: dict[str, RelevanceModel] = {
    # Fitted on the topic set's dev half (18 topics, 5,861 documents), L2 1.0, with
    # the query-term features. Threshold 0.45: the highest that loses no page
    # coverage on the dev half against the model without them (dev precision 0.76 vs
    # 0.72, total within 2x 0.78 vs 0.67). All 34 topics as the search lists them:
    # page precision 0.72 (0.69), coverage 0.64 (0.63), total within 2x 0.71 (0.59),
    # nDCG@10 1.10x BM25 (1.09x). 0.55 reaches dev precision 0.80 but loses coverage
    # and total. bench/retrieval.md.
    "use-m3": RelevanceModel(
        weights=(
            -0.212,
            -0.7498,
            1.7795,
            0.0767,
            1.1133,
            -0.8392,
            1.3535,
            -0.8874,
            -0.6535,
            2.0754,
            1.7672,
            1.9984,
        ),
        bias=1.3918,
        threshold=0.45,
    ),
}


@dataclass(frozen=True, slots=True)
class FusionParams:
    method: str = "rrf"
    rrf_k: float = 2.0
    semantic_weight: float = 0.85
    lexical_floor: float = 0.3
    semantic_floor: float = 0.2
    semantic_ratio: float = 0.8
    feedback_weight: float = 0.5
    feedback_floor: float = 0.3
    feedback_ratio: float = 0.6
    # None: the newest-first list keeps what :func:`broad_cutoff` keeps (no model).
    relevance: RelevanceModel | None = field(default=None)


def _merge(*lists: Sequence[tuple[str, float]]) -> dict[str, list[float | None]]:
    merged: dict[str, list[float | None]] = {}
    for i, items in enumerate(lists):
        for doc_id, score in items:
            merged.setdefault(doc_id, [None] * len(lists))[i] = score
    return merged


def fuse(
    lexical: Sequence[tuple[str, float]],
    semantic: Sequence[tuple[str, float]],
    params: FusionParams,
    feedback: Sequence[tuple[str, float]] = (),
) -> list[Ranked]:
    """One ranking from the lists (each best first); ties keep lexical order first.

    ``feedback`` is a second semantic list, from the query vector moved towards
    its best lexical hits; it counts with ``feedback_weight`` in RRF.
    """
    both = _merge(lexical, semantic, feedback)
    scores: dict[str, float] = {}
    if params.method == "rrf":
        w_sem = params.semantic_weight
        for rank, (doc_id, _) in enumerate(lexical, start=1):
            scores[doc_id] = scores.get(doc_id, 0.0) + (1 - w_sem) / (params.rrf_k + rank)
        for rank, (doc_id, _) in enumerate(semantic, start=1):
            scores[doc_id] = scores.get(doc_id, 0.0) + w_sem / (params.rrf_k + rank)
        w_fb = params.feedback_weight
        for rank, (doc_id, _) in enumerate(feedback if w_fb > 0 else (), start=1):
            scores[doc_id] = scores.get(doc_id, 0.0) + w_fb / (params.rrf_k + rank)
        # RRF scores are tiny; scale so the best possible score is 1 for readability.
        scale = params.rrf_k + 1
        scores = {k: v * scale for k, v in scores.items()}
    elif params.method == "convex":
        top_lex = max((s for _, s in lexical), default=0.0)
        floor = params.semantic_floor
        for doc_id, (lex, sem, _) in both.items():
            lex_part = lex / top_lex if lex is not None and top_lex > 0 else 0.0
            sem_part = max(0.0, (sem - floor) / (1 - floor)) if sem is not None else 0.0
            scores[doc_id] = (
                1 - params.semantic_weight
            ) * lex_part + params.semantic_weight * sem_part
    else:
        raise ValueError(f"unknown fusion method {params.method!r}")
    order = {doc_id: i for i, doc_id in enumerate(both)}
    ranked = sorted(both, key=lambda d: (-scores.get(d, 0.0), order[d]))
    out = []
    for d in ranked:
        lex, sem, fb = both[d]
        out.append(Ranked(d, scores.get(d, 0.0), lex, sem, fb))
    return out


def broad_cutoff(ranked: Sequence[Ranked], params: FusionParams) -> list[Ranked]:
    """The candidates that may be about the query (order kept): recall first.

    This is the set ``--sort relevance`` ranks; :func:`cutoff` is the confident part.
    """
    top_lex = max((r.lexical for r in ranked if r.lexical is not None), default=0.0)
    top_sem = max((r.semantic for r in ranked if r.semantic is not None), default=0.0)
    sem_floor = max(params.semantic_floor, params.semantic_ratio * top_sem)
    top_fb = max((r.feedback for r in ranked if r.feedback is not None), default=0.0)
    fb_floor = max(params.feedback_floor, params.feedback_ratio * top_fb)
    kept = []
    for r in ranked:
        lex_ok = (
            r.lexical is not None and top_lex > 0 and r.lexical >= params.lexical_floor * top_lex
        )
        sem_ok = r.semantic is not None and r.semantic >= sem_floor
        fb_ok = r.feedback is not None and r.feedback >= fb_floor
        if lex_ok or sem_ok or fb_ok:
            kept.append(r)
    return kept


def features(ranked: Sequence[Ranked]) -> list[tuple[float, ...]]:
    """One row of :data:`FEATURES` per candidate of a fused list (best first)."""
    if not ranked:
        return []
    top = max(r.score for r in ranked) or 1.0
    lex = [r.lexical for r in ranked if r.lexical is not None]
    sem = [r.semantic for r in ranked if r.semantic is not None]
    fb = [r.feedback for r in ranked if r.feedback is not None]
    top_lex = max(lex, default=0.0)
    top_sem, low_sem = max(sem, default=0.0), min(sem, default=0.0)
    top_fb, low_fb = max(fb, default=0.0), min(fb, default=0.0)
    hits = math.log1p(len(lex))
    rows: list[tuple[float, ...]] = []
    for i, r in enumerate(ranked):
        s = r.semantic if r.semantic is not None else low_sem
        f = r.feedback if r.feedback is not None else low_fb
        lex_rel = r.lexical / top_lex if r.lexical is not None and top_lex > 0 else 0.0
        rows.append(
            (
                r.score / top,
                math.log1p(i),
                lex_rel,
                1.0 if r.lexical is not None else 0.0,
                s,
                top_sem - s,
                f,
                top_fb - f,
                hits,
                r.cover or 0.0,
                r.title_cover or 0.0,
                1.0 if r.other_lang else 0.0,
            )
        )
    return rows


def idf(df: int, n: int) -> float:
    """BM25's inverse document frequency of a term in ``df`` of ``n`` documents."""
    return math.log(1.0 + (n - df + 0.5) / (df + 0.5))


def _share(bits: int, weights: Sequence[float]) -> float:
    total = sum(weights)
    if total <= 0:
        return 0.0
    return sum(w for i, w in enumerate(weights) if bits >> i & 1) / total


def with_presence(
    ranked: Sequence[Ranked], presence: Mapping[str, TermPresence], weights: Sequence[float]
) -> list[Ranked]:
    """``ranked`` with each candidate's share of the query's terms filled in.

    The share weighs each term by its inverse document frequency (``weights``, one
    per query term): holding 以旧换新 matters more than holding 补贴. Candidates
    without an entry keep ``None`` (counted as holding none of them).
    """
    if not weights:
        return list(ranked)
    out = []
    for r in ranked:
        p = presence.get(r.id)
        if p is None:
            out.append(r)
            continue
        same = p.same_lang
        out.append(
            Ranked(
                r.id,
                r.score,
                r.lexical,
                r.semantic,
                r.feedback,
                _share(p.anywhere, weights) if same else 0.0,
                _share(p.title, weights) if same else 0.0,
                not same,
            )
        )
    return out


def by_relevance(
    ranked: Sequence[Ranked], params: FusionParams, subset: Sequence[Ranked]
) -> list[Ranked]:
    """``subset`` of the fused list ``ranked``, most probably relevant first.

    With a :class:`RelevanceModel` each candidate's score becomes its probability of
    being relevant and the order follows it (ties keep the fused order): it weighs
    the lexical and semantic evidence and the query's words together, which ranks
    better than the fused score alone (bench/retrieval.md). Without one, ``subset``
    as it is.
    """
    model = params.relevance
    if model is None or not subset:
        return list(subset)
    rows = features(ranked)
    wanted = {r.id for r in subset}
    at = [i for i, r in enumerate(ranked) if r.id in wanted]
    p = dict(
        zip(
            (ranked[i].id for i in at),
            model.probabilities([rows[i] for i in at]),
            strict=True,
        )
    )
    scored = [
        Ranked(
            r.id,
            p.get(r.id, 0.0),
            r.lexical,
            r.semantic,
            r.feedback,
            r.cover,
            r.title_cover,
            r.other_lang,
        )
        for r in subset
    ]
    return sorted(scored, key=lambda r: -r.score)


def judge(
    ranked: Sequence[Ranked], params: FusionParams, broad: Sequence[Ranked]
) -> tuple[list[Ranked], list[Ranked]]:
    """``(by_relevance(ranked, params, broad), cutoff(ranked, params, broad))`` with the
    features and probabilities computed once for both (a search needs both).

    ``broad`` must be ``broad_cutoff(ranked, params)``. The confident ones carry
    their probability as their score, as they do in the relevance order.
    """
    model = params.relevance
    if model is None:
        return list(broad), list(broad)
    wanted = {r.id for r in broad}
    rows = features(ranked)
    at = [i for i, r in enumerate(ranked) if r.id in wanted]
    probabilities = model.probabilities([rows[i] for i in at])
    scored: dict[str, Ranked] = {}
    confident = []
    for i, p in zip(at, probabilities, strict=True):
        r = ranked[i]
        scored[r.id] = Ranked(
            r.id, p, r.lexical, r.semantic, r.feedback, r.cover, r.title_cover, r.other_lang
        )
        if p >= model.threshold:
            confident.append(scored[r.id])
    listed = sorted((scored[r.id] for r in broad), key=lambda r: -r.score)
    return listed, confident


def cutoff(
    ranked: Sequence[Ranked], params: FusionParams, broad: Sequence[Ranked] | None = None
) -> list[Ranked]:
    """The candidates judged relevant with confidence (order kept): precision first.

    With a :class:`RelevanceModel` in ``params`` each candidate of the broad set is
    kept when the model's probability reaches its threshold; without one this is
    :func:`broad_cutoff`. ``ranked`` must be the whole fused list, best first (the
    features compare each candidate with the best ones); ``broad``, when given, is
    ``broad_cutoff(ranked, params)`` already computed.
    """
    if broad is None:
        broad = broad_cutoff(ranked, params)
    model = params.relevance
    if model is None:
        return list(broad)
    wanted = {r.id for r in broad}
    rows = features(ranked)
    # Only the broad set's candidates are scored (the others are never kept).
    scored = [i for i, r in enumerate(ranked) if r.id in wanted]
    p = model.probabilities([rows[i] for i in scored])
    return [ranked[i] for i, pi in zip(scored, p, strict=True) if pi >= model.threshold]
