"""Hybrid search over the bundled sample with the default embedder: the seed's promise.

`技术主权` must find the documents that are about technology sovereignty even when
they never use the words, newest first, and nothing unrelated; English queries must
find Chinese documents; syntax, filters and snippets apply to both retrievers. Every
test runs against each index backend (local, and OpenSearch on a live node).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from newsdesk import Engine, SearchRequest
from newsdesk.cli import cli

# About technology sovereignty without saying 技术主权: rare-earth export controls, a
# carmaker's own chip, domestic EDA ("自主可控"), Mistral's sovereign data centre, and
# the English stories on the same themes.
UNSAID = {
    "zh-rare-earth-controls-01",
    "zh-nio-chip-01",
    "zh-domestic-eda-01",
    "zh-mistral-followup-01",
    "en-asml-mistral-01",
    "en-eu-chips-act-01",
    "en-eu-data-sovereignty-01",
}
# Filler stories that are about nothing of the kind.
UNRELATED = {
    "zh-autumn-harvest-01",
    "zh-guoqing-tourism-01",
    "en-coffee-harvest-01",
    "en-japan-tourism-01",
    "zh-pboc-lpr-01",
    "en-fed-september-01",
    "zh-byd-pricecut-01",
    "zh-gold-price-01",
}


def _ids(engine: Engine, query: str, **kw: object) -> list[str]:
    request = SearchRequest(query=query, limit=100, **kw)  # type: ignore[arg-type]
    return [h.document.id for h in engine.search(request).hits]


def test_topic_query_finds_documents_that_never_use_the_words(search_engine: Engine) -> None:
    results = search_engine.search(SearchRequest(query="技术主权", limit=100))
    assert results.retrieval == "hybrid" and results.sort == "newest"
    ids = {h.document.id for h in results.hits}
    assert not ids & UNRELATED, ids & UNRELATED
    # The confident newest-first page holds stories found by meaning, in both
    # languages (an English story holds none of the words), not only those naming it.
    by_meaning = ids & UNSAID
    assert len(by_meaning) >= 3, by_meaning
    assert any(i.startswith("en-") for i in by_meaning) and any(
        i.startswith("zh-") for i in by_meaning
    ), by_meaning
    # Compare stories: a syndicated story may be represented by another copy.
    lexical = {
        search_engine.document(i).story_id for i in _ids(search_engine, "技术主权", mode="lexical")
    }
    stories = {h.document.story_id for h in results.hits}
    assert lexical < stories
    times = [h.document.published_at for h in results.hits]
    assert times == sorted(times, reverse=True)  # type: ignore[type-var]
    # The relevance order lists every story about the topic, the confident ones first.
    ranked_hits = search_engine.search(
        SearchRequest(query="技术主权", limit=100, sort="relevance")
    ).hits
    ranked = [h.document.id for h in ranked_hits]
    # A story's version in the other language is listed under its result.
    shown = set(ranked) | {
        d.id for h in ranked_hits for d in h.duplicates if d.lang != h.document.lang
    }
    assert shown >= UNSAID, UNSAID - shown
    assert set(ranked[: len(ids)]) == ids
    assert not set(ranked) & UNRELATED, set(ranked) & UNRELATED


def test_english_query_finds_chinese_documents(search_engine: Engine) -> None:
    ids = _ids(search_engine, "rare earth export controls", sort="relevance")
    assert {"en-rare-earth-controls-01", "zh-rare-earth-controls-01"} <= set(ids)
    assert not set(ids) & UNRELATED
    zh_only = _ids(search_engine, "rare earth export controls", langs=("zh",))
    assert "zh-rare-earth-controls-01" in zh_only
    assert all(i.startswith("zh-") for i in zh_only)
    # Words alone cannot cross languages.
    lexical_zh = _ids(search_engine, "rare earth export controls", langs=("zh",), mode="lexical")
    assert "zh-rare-earth-controls-01" not in lexical_zh


def test_semantic_hits_obey_exclusions_phrases_and_dates(search_engine: Engine) -> None:
    for doc_id in _ids(search_engine, "技术主权 -阿斯麦 -ASML"):
        doc = search_engine.document(doc_id)
        text = (doc.title + doc.text).lower()
        assert "阿斯麦" not in text and "asml" not in text, doc_id
    for doc_id in _ids(search_engine, '"export controls" 稀土'):
        doc = search_engine.document(doc_id)
        assert "export control" in (doc.title + " " + doc.text).lower(), doc_id
    dated = search_engine.search(
        SearchRequest(query="技术主权", since="2025-10-01", until="2025-10-31", limit=100)
    ).hits
    assert dated
    for h in dated:
        assert h.document.published_at is not None
        assert "2025-09-30" < h.document.published_at.date().isoformat() < "2025-11-01"


def test_modes_and_snippets(search_engine: Engine) -> None:
    semantic = search_engine.search(SearchRequest(query="稀土 出口管制", mode="semantic"))
    assert semantic.retrieval == "semantic" and semantic.hits
    hits = search_engine.search(SearchRequest(query="稀土 出口管制", sort="relevance")).hits
    top = hits[0]
    assert top.snippet and top.highlights
    marked = {top.snippet[s:e] for s, e in top.highlights}
    assert marked <= {"稀土", "出口", "管制", "出口管制"}, marked
    assert top.snippet.strip("…") in top.document.text
    english = search_engine.search(SearchRequest(query="rare earth licences", sort="relevance"))
    en_hit = next(h for h in english.hits if h.document.lang == "en" and h.highlights)
    words = {en_hit.snippet[s:e].lower() for s, e in en_hit.highlights}
    assert words <= {"rare", "earth", "earths", "licence", "licences"}, words


def test_search_json_has_retrieval_and_snippets(
    sample_home: Path, backend_env: dict[str, str]
) -> None:
    runner = CliRunner(env=backend_env)
    result = runner.invoke(cli, ["--home", str(sample_home), "search", "技术主权", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["retrieval"] == "hybrid"
    for r in data["results"]:
        assert isinstance(r["snippet"], str) and r["snippet"]
        for start, end in r["snippet_highlights"]:
            assert 0 <= start < end <= len(r["snippet"])
    lexical = runner.invoke(
        cli, ["--home", str(sample_home), "search", "技术主权", "--mode", "lexical", "--json"]
    )
    assert json.loads(lexical.stdout)["retrieval"] == "lexical"


@pytest.mark.parametrize("query", ["chips", "芯片", "技术主权"])
def test_relevance_order_starts_with_the_newest_first_set(
    search_engine: Engine, query: str
) -> None:
    newest = _ids(search_engine, query)
    relevance = _ids(search_engine, query, sort="relevance")
    assert newest and set(relevance[: len(newest)]) == set(newest)
    # What follows is less certain, and never a filler story.
    assert not set(relevance) & UNRELATED
