"""Search over the bundled sample: Chinese and English, sorting, filters, collapse, syntax.

Every test runs against each index backend (``search_engine``: local tantivy + numpy,
and OpenSearch on a live node) over the same stored documents.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

import pytest
import tantivy

from newsdesk import Engine, SearchRequest
from newsdesk.errors import InputError
from newsdesk.index.lexical import LexicalIndex
from newsdesk.ranking import (
    TermPresence,
    broad_cutoff,
    by_relevance,
    cutoff,
    fuse,
    judge,
    with_presence,
)


def _ids(engine: Engine, query: str, **kw: object) -> list[str]:
    return [h.document.id for h in engine.search(SearchRequest(query=query, **kw)).hits]  # type: ignore[arg-type]


def test_chinese_topic_query_finds_documents_that_use_it(search_engine: Engine) -> None:
    results = search_engine.search(SearchRequest(query="技术主权", limit=20))
    assert results.total >= 4
    texts = [h.document.title + h.document.text for h in results.hits]
    literal = sum("技术主权" in t for t in texts)
    assert literal >= 4
    # Newest first by default.
    times = [h.document.published_at for h in results.hits]
    assert all(isinstance(t, datetime) for t in times)
    assert times == sorted(times, reverse=True)  # type: ignore[type-var]


def test_english_query_finds_english_documents(search_engine: Engine) -> None:
    results = search_engine.search(
        SearchRequest(query="rare earth export controls", sort="relevance")
    )
    assert results.hits, "expected English results"
    top = results.hits[0].document
    assert top.lang == "en"
    assert "rare earth" in (top.title + top.text).lower()
    scores = [h.score for h in results.hits]
    assert scores == sorted(scores, reverse=True)


def test_relevance_cutoff_keeps_unrelated_documents_out(search_engine: Engine) -> None:
    # By words alone, every result uses the word.
    hits = search_engine.search(SearchRequest(query="稀土", limit=50, mode="lexical")).hits
    assert hits
    for h in hits:
        assert "稀土" in h.document.title + h.document.text
    # Hybrid search also finds the English rare-earth story (cross-lingual), and still no
    # filler: the relevant set stays small.
    hybrid = search_engine.search(SearchRequest(query="稀土", limit=50)).hits
    ids = {h.document.id for h in hybrid}
    # The English story is the Chinese one's version (one story, shown under it).
    shown = ids | {d.id for h in hybrid for d in h.duplicates}
    assert {h.document.id for h in hits} <= shown
    assert "en-rare-earth-controls-01" in shown
    assert len(ids) <= len(hits) + 4
    for filler in (hits, hybrid):
        assert not {h.document.id for h in filler} & {
            "zh-autumn-harvest-01",
            "zh-guoqing-tourism-01",
            "en-coffee-harvest-01",
        }


def test_relevance_order_lists_the_confident_results_first_then_the_rest(
    search_engine: Engine,
) -> None:
    newest = search_engine.search(SearchRequest(query="芯片", limit=100))
    relevance = search_engine.search(SearchRequest(query="芯片", sort="relevance", limit=100))
    assert newest.total == relevance.total == len(newest.hits) > 0
    shown = [h.document.id for h in relevance.hits]
    sure = [h.confident for h in relevance.hits]
    assert set(shown[: newest.total]) == {h.document.id for h in newest.hits}
    assert sure == sorted(sure, reverse=True)  # confident first
    assert relevance.pages_of == len(relevance.hits) >= newest.total
    assert all(h.confident for h in newest.hits)
    # Each hit says why it is there: words it contains, or closeness in meaning.
    for h in relevance.hits:
        assert h.matched or h.by_meaning
        assert all(t in (h.document.title + h.document.text).lower() for t in h.matched)


def test_term_presence_says_which_query_words_a_document_holds(search_engine: Engine) -> None:
    # Each index backend answers the same: 技术 and 主权 both in the ASML story's
    # title, neither in the NIO chip story, and an English story is another language.
    lexical = search_engine.searcher.lexical
    ids = ["zh-asml-mistral-01", "zh-nio-chip-01", "en-eu-chips-act-01", "no-such-id"]
    got = lexical.presence(("技术", "主权"), ids, "zh")
    assert set(got) == set(ids)
    assert (got["zh-asml-mistral-01"].anywhere, got["zh-asml-mistral-01"].title) == (3, 3)
    assert got["zh-asml-mistral-01"].same_lang
    assert got["zh-nio-chip-01"].anywhere & 0b10 == 0
    assert got["zh-nio-chip-01"].same_lang and not got["en-eu-chips-act-01"].same_lang
    assert lexical.presence(("技术",), [], "zh") == {}
    weights = lexical.term_weights(("技术", "主权", "从未出现的词"))
    # 主权 is rarer than 技术 in the sample; a word in no document weighs the most.
    assert weights[2] > weights[1] > weights[0] > 0


def test_near_duplicates_collapse_into_one_result(search_engine: Engine) -> None:
    hits = search_engine.search(SearchRequest(query="阿斯麦 Mistral", limit=50)).hits
    ids = [h.document.id for h in hits]
    # Two Chinese copies and the English version of the same story: one result.
    members = {"zh-asml-mistral-01", "zh-asml-mistral-02", "en-asml-mistral-01"}
    assert len(members & set(ids)) == 1
    story = next(h for h in hits if h.document.id in members)
    assert {d.id for d in story.duplicates} == members - {story.document.id}
    # The follow-up a week later is a different story and is not merged.
    assert "zh-mistral-followup-01" in ids


def test_filters(search_engine: Engine) -> None:
    en = search_engine.search(SearchRequest(query="chips OR 芯片", langs=("en",), limit=50)).hits
    assert en and all(h.document.lang == "en" for h in en)
    dated = search_engine.search(
        SearchRequest(query="芯片", since="2025-10-01", until="2025-10-31", limit=50)
    ).hits
    assert dated
    for h in dated:
        assert h.document.published_at is not None
        assert "2025-09-30" < h.document.published_at.date().isoformat() < "2025-11-01"
    src = search_engine.search(SearchRequest(query="LPR", sources=("华夏财经",), limit=50)).hits
    assert src and all(h.document.source == "华夏财经" for h in src)


def test_phrase_and_exclusion(search_engine: Engine) -> None:
    with_word = _ids(search_engine, "chips", limit=50)
    excluded = _ids(search_engine, "chips -nvidia", limit=50)
    assert excluded and len(excluded) < len(with_word)
    for doc_id in excluded:
        doc = search_engine.document(doc_id)
        assert "nvidia" not in (doc.title + doc.text).lower()
    phrase = _ids(search_engine, '"export controls"', limit=50)
    assert phrase
    for doc_id in phrase:
        doc = search_engine.document(doc_id)
        assert "export control" in (doc.title + " " + doc.text).lower()


def test_empty_query_lists_latest(search_engine: Engine) -> None:
    results = search_engine.search(SearchRequest(query="", limit=5))
    times = [h.document.published_at for h in results.hits]
    assert len(times) == 5 and times == sorted(times, reverse=True)  # type: ignore[type-var]


@pytest.mark.parametrize("query", ["*", "AND", '"', "：", "的"])
def test_query_without_searchable_words_matches_nothing(search_engine: Engine, query: str) -> None:
    assert search_engine.search(SearchRequest(query=query)).total == 0


def test_paging(search_engine: Engine) -> None:
    all_ids = _ids(search_engine, "芯片", limit=100)
    page2 = _ids(search_engine, "芯片", limit=3, offset=3)
    assert page2 == all_ids[3:6]


@pytest.mark.parametrize(
    "request_kw",
    [
        {"query": "x", "sort": "oldest"},
        {"query": "x", "limit": 0},
        {"query": "x", "since": "last tuesday"},
        {"query": "x", "since": "2025-10-02", "until": "2025-10-01"},
        {"query": "-only -exclusions"},
        {"query": "x" * 1001},
    ],
)
def test_bad_requests_raise_input_error(
    search_engine: Engine, request_kw: dict[str, object]
) -> None:
    with pytest.raises(InputError):
        search_engine.search(SearchRequest(**request_kw))  # type: ignore[arg-type]


@pytest.mark.parametrize("query", ["技术主权", "rare earth export controls", "央行 降准", "芯片"])
def test_ranking_reuses_the_fusion_of_the_presence_lookup_with_the_same_result(
    sample_engine: Engine, query: str
) -> None:
    searcher = sample_engine.searcher
    found = searcher.candidates(SearchRequest(query=query, mode="hybrid"))
    assert found.fused is not None and found.presence  # the lookup fused them
    assert searcher.rank_all(found) == searcher.rank_all(replace(found, fused=None))
    # Kept with the parameters it was made with: ranking by others fuses anew.
    assert found.fused[0] is searcher.policy.fusion


@pytest.mark.parametrize("query", ["技术主权", "rare earth export controls", "央行 降准", "芯片"])
def test_judging_once_equals_the_cutoff_and_the_relevance_order(
    sample_engine: Engine, query: str
) -> None:
    searcher = sample_engine.searcher
    found = searcher.candidates(SearchRequest(query=query, mode="hybrid"))
    params = searcher.policy.fusion
    assert params.relevance is not None
    fused = with_presence(
        fuse(found.lexical, found.semantic, params, found.feedback),
        found.presence,
        found.term_weights,
    )
    broad = broad_cutoff(fused, params)
    # What ranking did before, in three passes over the features.
    confident = cutoff(fused, params, broad)
    keep = {r.id for r in broad} | {r.id for r in confident}
    listed = by_relevance(fused, params, [r for r in fused if r.id in keep])
    scored = {r.id: r for r in listed}
    assert judge(fused, params, broad) == (listed, [scored[r.id] for r in confident])
    assert searcher.rank_all(found) == (listed, [scored[r.id] for r in confident])
    assert confident


def _presence_term_by_term(
    lexical: LexicalIndex, terms: list[str], ids: list[str], lang: str
) -> dict[str, TermPresence]:
    """The presence as it was looked up before: one query per term and field."""
    occ = tantivy.Occur
    searcher = lexical._index.searcher()
    schema = lexical._schema
    restrict = (occ.Must, tantivy.Query.term_set_query(schema, "id", ids))

    def found(extra: object) -> set[str]:
        q = tantivy.Query.boolean_query([restrict, (occ.Must, extra)])
        return {searcher.doc(a)["id"][0] for _, a in searcher.search(q, len(ids)).hits}

    anywhere, title = dict.fromkeys(ids, 0), dict.fromkeys(ids, 0)
    for i, term in enumerate(terms[:30]):
        in_title = found(tantivy.Query.term_query(schema, "title", term))
        in_body = found(tantivy.Query.term_query(schema, "body", term))
        for d in in_title:
            title[d] |= 1 << i
        for d in in_title | in_body:
            anywhere[d] |= 1 << i
    same = found(tantivy.Query.term_query(schema, "lang", lang)) if lang else set(ids)
    return {d: TermPresence(anywhere[d], title[d], d in same) for d in ids}


def test_presence_in_one_query_equals_one_query_per_term_and_field(sample_engine: Engine) -> None:
    lexical = sample_engine.searcher.lexical
    assert isinstance(lexical, LexicalIndex)
    ids = [*sample_engine.store.ids_after("", 500), "no-such-id"]
    words = sorted(
        {
            w
            for q in ("技术 主权 芯片 出口 管制 稀土", "rare earth export chips bank")
            for w in q.split()
        }
    )
    cases = [
        (["技术", "主权"], "zh"),
        (["rare", "earth", "export"], "en"),
        (["rare", "earth", "export"], ""),
        (words, "zh"),  # 11 words: one query
        ([*words, "rates", "oil", "的", "policy"], "en"),  # more than 11: two queries
        ([f"w{i}" for i in range(35)] + ["技术"], "zh"),  # past 30 terms: ignored
        ([], "zh"),
    ]
    seen = []
    for terms, lang in cases:
        got = lexical.presence(terms, ids, lang)
        assert got == _presence_term_by_term(lexical, terms, ids, lang), (terms, lang)
        seen += got.values()
    # The cases cover words in titles, words only in bodies, and both languages.
    assert any(p.title for p in seen)
    assert any(p.anywhere & ~p.title for p in seen)
    assert any(p.same_lang for p in seen) and any(not p.same_lang for p in seen)
