"""Fusion, cut-off and snippets: pure functions checked against hand-computed values."""

from __future__ import annotations

import math
import random

import pytest

from newsdesk.evaluation.metrics import ndcg_at, precision_at, recall_at, set_f1
from newsdesk.models import Document, Paragraph
from newsdesk.ranking import (
    FEATURES,
    RELEVANCE_MODELS,
    FusionParams,
    RelevanceModel,
    TermPresence,
    broad_cutoff,
    by_relevance,
    cutoff,
    features,
    fuse,
    idf,
    with_presence,
)
from newsdesk.snippets import make_snippet

LEX = [("a", 10.0), ("b", 6.0), ("c", 2.0)]
SEM = [("b", 0.60), ("d", 0.50), ("a", 0.20)]
FB = [("d", 0.70), ("e", 0.50)]


def test_rrf_matches_the_formula() -> None:
    p = FusionParams(method="rrf", rrf_k=2, semantic_weight=0.75, feedback_weight=0.5)
    ranked = fuse(LEX, SEM, p, FB)
    expected = {
        "a": 0.25 / 3 + 0.75 / 5,
        "b": 0.25 / 4 + 0.75 / 3,
        "c": 0.25 / 5,
        "d": 0.75 / 4 + 0.5 / 3,
        "e": 0.5 / 4,
    }
    scale = p.rrf_k + 1
    assert [r.id for r in ranked] == sorted(expected, key=lambda d: -expected[d])
    for r in ranked:
        assert r.score == pytest.approx(expected[r.id] * scale)
    b = next(r for r in ranked if r.id == "b")
    assert (b.lexical, b.semantic, b.feedback) == (6.0, 0.60, None)


def test_convex_and_single_lists() -> None:
    p = FusionParams(method="convex", semantic_weight=0.5, semantic_floor=0.2)
    ranked = {r.id: r.score for r in fuse(LEX, SEM, p)}
    assert ranked["a"] == pytest.approx(0.5 * 1.0 + 0.5 * 0.0)
    assert ranked["b"] == pytest.approx(0.5 * 0.6 + 0.5 * (0.4 / 0.8))
    assert ranked["d"] == pytest.approx(0.5 * (0.3 / 0.8))
    assert [r.id for r in fuse(LEX, [], FusionParams())] == ["a", "b", "c"]
    assert fuse([], [], FusionParams()) == []
    with pytest.raises(ValueError):
        fuse(LEX, SEM, FusionParams(method="max"))


def test_cutoff_keeps_what_any_signal_vouches_for() -> None:
    p = FusionParams(
        lexical_floor=0.5,
        semantic_floor=0.3,
        semantic_ratio=0.8,
        feedback_floor=0.3,
        feedback_ratio=0.8,
    )
    kept = {r.id for r in cutoff(fuse(LEX, SEM, p, FB), p)}
    # a, b: BM25 >= 5; b: cos 0.6 >= max(0.3, 0.48); d: feedback 0.7; c, e: nothing.
    assert kept == {"a", "b", "d"}
    strict = FusionParams(lexical_floor=0.9, semantic_floor=0.65, feedback_floor=1.0)
    assert {r.id for r in cutoff(fuse(LEX, SEM, strict, FB), strict)} == {"a"}


def test_features_by_hand() -> None:
    p = FusionParams(method="rrf", rrf_k=2, semantic_weight=0.75, feedback_weight=0.5)
    ranked = fuse(LEX, SEM, p, FB)
    rows = dict(zip([r.id for r in ranked], features(ranked), strict=True))
    assert all(len(row) == len(FEATURES) for row in rows.values())
    top = ranked[0].score
    c = dict(zip(FEATURES, rows["c"], strict=True))
    # c: BM25 only (2 of 10), not among the nearest by meaning (takes the weakest
    # cosine seen, 0.2 of a best 0.6; feedback 0.5 of a best 0.7).
    assert c["fused_rel"] == pytest.approx(next(r.score for r in ranked if r.id == "c") / top)
    assert c["log_rank"] == pytest.approx(math.log1p([r.id for r in ranked].index("c")))
    assert (c["lex_rel"], c["has_lex"]) == pytest.approx((0.2, 1.0))
    assert (c["sem"], c["sem_gap"]) == pytest.approx((0.2, 0.4))
    assert (c["fb"], c["fb_gap"]) == pytest.approx((0.5, 0.2))
    assert c["log_lex_hits"] == pytest.approx(math.log1p(3))
    d = dict(zip(FEATURES, rows["d"], strict=True))
    assert (d["lex_rel"], d["has_lex"], d["sem"], d["fb_gap"]) == (0.0, 0.0, 0.5, 0.0)
    assert features([]) == []


def test_query_term_shares_weigh_rare_terms_more() -> None:
    p = FusionParams(method="rrf", rrf_k=2, semantic_weight=0.75, feedback_weight=0.5)
    ranked = fuse(LEX, SEM, p, FB)
    # Two query terms, the second three times as telling as the first.
    presence = {
        "a": TermPresence(anywhere=0b11, title=0b01),
        "b": TermPresence(anywhere=0b10, title=0b00),
        "d": TermPresence(anywhere=0b01, title=0b01, same_lang=False),
    }
    got = {r.id: r for r in with_presence(ranked, presence, (1.0, 3.0))}
    assert (got["a"].cover, got["a"].title_cover, got["a"].other_lang) == (1.0, 0.25, False)
    assert (got["b"].cover, got["b"].title_cover) == (0.75, 0.0)
    # Another language cannot hold the words: no share, flagged instead.
    assert (got["d"].cover, got["d"].title_cover, got["d"].other_lang) == (0.0, 0.0, True)
    assert got["c"].cover is None and got["e"].cover is None
    rows = dict(zip([r.id for r in got.values()], features(list(got.values())), strict=True))
    named = {k: dict(zip(FEATURES, v, strict=True)) for k, v in rows.items()}
    assert (named["b"]["cover"], named["b"]["title_cover"], named["b"]["other_lang"]) == (
        0.75,
        0.0,
        0.0,
    )
    assert (named["d"]["other_lang"], named["c"]["cover"]) == (1.0, 0.0)
    assert with_presence(ranked, presence, ()) == ranked
    # BM25's idf: rarer terms weigh more, a term in every document next to nothing.
    assert idf(1, 1000) > idf(100, 1000) > idf(1000, 1000) > 0
    assert idf(10, 100) == pytest.approx(math.log(1 + 90.5 / 10.5))


def test_could_keep_bounds_every_way_of_holding_the_words() -> None:
    import random

    from newsdesk.ranking import RELEVANCE_MODELS

    model = RELEVANCE_MODELS["use-m3"]
    ic, it, io = (FEATURES.index(n) for n in ("cover", "title_cover", "other_lang"))
    rng = random.Random(7)
    rows = [[rng.uniform(-4.0, 2.0) for _ in FEATURES] for _ in range(400)]
    bound = model.could_keep(rows)
    assert any(bound) and not all(bound)  # the bound separates something
    for row, ok in zip(rows, bound, strict=True):
        for cover, title, other in ((1.0, 1.0, 0.0), (0.5, 0.0, 0.0), (0.0, 0.0, 1.0)):
            held = list(row)
            held[ic], held[it], held[io] = cover, title, other
            if model.probability(held) >= model.threshold:
                assert ok, (row, cover, title, other)
    assert model.could_keep([]) == []


def test_relevance_order_follows_the_models_probability() -> None:
    p = FusionParams(method="rrf", rrf_k=2, semantic_weight=0.75, feedback_weight=0.5)
    ranked = fuse(LEX, SEM, p, FB)
    assert [r.id for r in ranked][:3] == ["d", "b", "a"]
    # A model that trusts BM25 alone: a (the best BM25) before b, d last of the three.
    lex_only = tuple(4.0 if f == "lex_rel" else 0.0 for f in FEATURES)
    model = RelevanceModel(weights=lex_only, bias=-2.0, threshold=0.5)
    subset = [r for r in ranked if r.id in {"a", "b", "d"}]
    got = by_relevance(ranked, FusionParams(relevance=model), subset)
    assert [r.id for r in got] == ["a", "b", "d"]
    rows = dict(zip([r.id for r in ranked], features(ranked), strict=True))
    assert [r.score for r in got] == [model.probability(rows[i]) for i in ("a", "b", "d")]
    assert got[2].semantic == next(r.semantic for r in ranked if r.id == "d")
    # Equal probabilities keep the fused order; no model keeps the subset as it is.
    flat = RelevanceModel(weights=(0.0,) * len(FEATURES), bias=0.0, threshold=0.5)
    assert [r.id for r in by_relevance(ranked, FusionParams(relevance=flat), subset)] == [
        r.id for r in subset
    ]
    assert by_relevance(ranked, FusionParams(), subset) == subset


def test_relevance_model_keeps_the_confident_part_of_the_broad_set() -> None:
    lex_only = tuple(1.0 if f == "lex_rel" else 0.0 for f in FEATURES)
    model = RelevanceModel(weights=tuple(10 * w for w in lex_only), bias=-5.0, threshold=0.5)
    assert model.probability([0.5 if f == "lex_rel" else 9.0 for f in FEATURES]) == 0.5
    p = FusionParams(
        lexical_floor=0.5,
        semantic_floor=0.3,
        semantic_ratio=0.8,
        feedback_floor=0.3,
        feedback_ratio=0.8,
        relevance=model,
    )
    ranked = fuse(LEX, SEM, p, FB)
    assert {r.id for r in broad_cutoff(ranked, p)} == {"a", "b", "d"}
    # Kept: BM25 at least half the best (a 1.0, b 0.6); d has no BM25, c is not in
    # the broad set whatever the model says.
    assert {r.id for r in cutoff(ranked, p)} == {"a", "b"}
    eager = FusionParams(relevance=RelevanceModel(bias=10.0))
    assert {r.id for r in cutoff(ranked, eager)} == {r.id for r in broad_cutoff(ranked, eager)}


def test_metrics() -> None:
    ranked = ["x", "r1", "y", "r2"]
    assert recall_at(ranked, {"r1", "r2", "r3"}, 2) == pytest.approx(1 / 3)
    assert precision_at(ranked, {"r1", "r2"}, 4) == 0.5
    ideal = 1 + 1 / 1.5849625
    assert ndcg_at(ranked, {"r1", "r2"}, 10) == pytest.approx(
        (1 / 1.5849625 + 1 / 2.3219281) / ideal
    )
    assert ndcg_at(["r1"], {"r1"}, 10) == 1.0
    assert set_f1({"a", "b"}, {"b", "c"}) == (0.5, 0.5, 0.5)
    assert set_f1(set(), {"a"}) == (0.0, 0.0, 0.0)


def _doc(*paragraphs: str) -> Document:
    return Document(
        id="d",
        title="t",
        paragraphs=tuple(Paragraph(i, t) for i, t in enumerate(paragraphs, 1)),
    )


def test_snippet_windows_and_offsets() -> None:
    doc = _doc(
        "开头一段与主题无关。" * 3,
        "前文" * 40 + "商务部宣布稀土出口管制措施，稀土价格随即上涨。" + "后文" * 40,
    )
    snip = make_snippet(doc, ["稀土", "管制"], width=60)
    assert snip.text.startswith("…") and snip.text.endswith("…")
    assert [snip.text[s:e] for s, e in snip.highlights] == ["稀土", "管制", "稀土"]
    english = make_snippet(
        _doc("China Controls rare-earth exports; controlled items."), ["control"]
    )
    assert [english.text[s:e] for s, e in english.highlights] == ["Controls", "controlled"]
    # No query word in the text (found by meaning): the lead, no highlights.
    lead = make_snippet(_doc("甲" * 300), ["稀土"], width=100)
    assert lead.text == "甲" * 100 + "…" and lead.highlights == ()
    assert make_snippet(_doc("短文"), []).text == "短文"


def test_matched_terms_and_why() -> None:
    from newsdesk.models import Hit
    from newsdesk.snippets import matched_terms
    from newsdesk.views import why

    doc = Document(
        id="d",
        title="Export controls on chips",
        paragraphs=(Paragraph(1, "稀土出口管制再收紧。"),),
    )
    assert matched_terms(doc, ["control", "稀土", "tariff", "control"]) == ("control", "稀土")
    assert why(Hit(doc, 1.0, matched=("稀土",), by_meaning=True)) == (
        "matches 稀土 · close in meaning"
    )
    assert why(Hit(doc, 1.0, by_meaning=True, confident=False)) == "by meaning · less certain"
    assert why(Hit(doc, 1.0)) == ""


def test_relevance_model_follows_the_settings(tmp_path: object) -> None:
    from newsdesk.config import load_settings
    from newsdesk.engine import relevance_model
    from newsdesk.ranking import RELEVANCE_MODELS

    def model(**env: str) -> RelevanceModel | None:
        environ = {f"NEWSDESK_{k.upper()}": v for k, v in env.items()}
        return relevance_model(load_settings(home=str(tmp_path), environ=environ))

    assert model(embedder="use-m3") == RELEVANCE_MODELS["use-m3"]
    assert model(embedder="hashing") is None
    assert model(embedder="use-m3", confident_only="false") is None
    tuned = model(embedder="use-m3", relevance_threshold="0.7")
    assert tuned is not None and tuned.threshold == 0.7


def test_probabilities_are_probability_bit_for_bit() -> None:
    # cutoff scores a whole candidate list at once; a candidate on the threshold must
    # be kept or dropped exactly as one scored alone would be.
    model = RELEVANCE_MODELS["use-m3"]
    rng = random.Random(7)
    rows = [
        tuple(rng.uniform(-3.0, 3.0) * 10 ** rng.randint(-3, 2) for _ in FEATURES)
        for _ in range(2000)
    ]
    rows += [(0.0,) * len(FEATURES), (1e6,) * len(FEATURES), (-1e6,) * len(FEATURES)]
    assert model.probabilities(rows) == [model.probability(r) for r in rows]
    assert model.probabilities([]) == []
    with pytest.raises(ValueError):
        model.probabilities([(1.0, 2.0)])
