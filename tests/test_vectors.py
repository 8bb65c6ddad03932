"""The vector index: embedding on ingest or deferred, resumable catch-up, stale embedders."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from conftest import write_jsonl
from newsdesk import SearchRequest, load_settings, open_engine
from newsdesk.config import Settings
from newsdesk.errors import SearchIndexError
from newsdesk.index.vectors import NAME as VECTORS
from newsdesk.index.vectors import VectorFilter

TOPICS = ["光刻机", "存储器", "封装测试", "设计软件", "晶圆代工", "功率器件"]


def _rows(n: int, lang: str = "zh") -> list[dict[str, object]]:
    return [
        {
            "id": f"{lang}{i}",
            "title": f"芯片{TOPICS[i % len(TOPICS)]}新闻{i}{lang}",
            "published_at": f"2025-09-{i + 1:02d}",
            "lang": lang,
            "source": "甲报" if i % 2 else "乙报",
            "paragraphs": [
                f"{TOPICS[i % len(TOPICS)]}领域的芯片企业本月公布了{i * 10 + 7}项新计划。"
            ],
        }
        for i in range(n)
    ]


def _settings(home: Path, embedder: str = "hashing") -> Settings:
    return load_settings(home=home, environ={"NEWSDESK_EMBEDDER": embedder})


def test_ingest_embeds_by_default_and_can_defer(tmp_path: Path) -> None:
    settings = _settings(tmp_path / "home")
    with open_engine(settings) as engine:
        report = engine.ingest_paths(
            [write_jsonl(tmp_path / "a.jsonl", _rows(4))], defer_embeddings=True
        )
        assert report.embedded == 0
        status = engine.status()
        assert (status["documents"], status["indexed"], status["embedded"]) == (4, 4, 0)
        # Lexical search works before any vector exists; it says so.
        results = engine.search("芯片")
        assert results.total == 4 and results.retrieval == "lexical"
        assert engine.embed_pending() == 4
        assert engine.status()["embedded"] == 4
        assert engine.search("芯片").retrieval == "hybrid"
        report = engine.ingest_paths([write_jsonl(tmp_path / "b.jsonl", _rows(6)[4:])])
        assert report.embedded == 2 and engine.status()["embedded"] == 6
        assert len(engine.vectors or []) == 6


def test_embedding_resumes_after_a_crash(tmp_path: Path) -> None:
    settings = _settings(tmp_path / "home")
    with open_engine(settings) as engine:
        engine.ingest_paths([write_jsonl(tmp_path / "a.jsonl", _rows(5))])
        state = engine.store.index_state(VECTORS)
        assert state is not None and state[0] == engine.store.max_rev()
        # A crash after two documents' vectors were committed: the watermark lags.
        engine.store.set_index_state(VECTORS, 2, state[1])
    with open_engine(settings) as engine:
        assert engine.pending_embeddings() == 0  # vectors of rev 3-5 are stored already
        assert engine.embed_pending() == 3  # re-embedded idempotently from the watermark
        assert engine.status()["embedded"] == 5
        assert engine.vectors is not None and len(engine.vectors) == 5


def test_updated_document_is_re_embedded(tmp_path: Path) -> None:
    settings = _settings(tmp_path / "home")
    rows = _rows(3)
    with open_engine(settings) as engine:
        engine.ingest_paths([write_jsonl(tmp_path / "a.jsonl", rows)])
        assert engine.vectors is not None
        before = engine.vectors.search(engine.vectors.embed_query("一个全新的标题"), 3)
        rows[0] = {**rows[0], "title": "一个全新的标题", "paragraphs": ["完全不同的内容。"]}
        report = engine.ingest_paths([write_jsonl(tmp_path / "b.jsonl", rows)])
        assert report.counts["updated"] == 1 and report.embedded == 1
        assert engine.status()["embedded"] == 3 and len(engine.vectors) == 3
        after = engine.vectors.search(engine.vectors.embed_query("一个全新的标题"), 3)
        assert after[0].id == "zh0" and after[0].score > before[0].score


def test_a_different_embedder_is_refused_until_rebuilt(tmp_path: Path) -> None:
    home = tmp_path / "home"
    with open_engine(_settings(home)) as engine:
        engine.ingest_paths([write_jsonl(tmp_path / "a.jsonl", _rows(4))])
    with open_engine(_settings(home, "use-m3")) as engine:
        assert engine.vectors is not None
        assert "hashing" in engine.vectors.stale_reason
        assert engine.status()["embedded"] == 0
        assert "embed --rebuild" in engine.status()["vector_index"]
        with pytest.raises(SearchIndexError, match="rebuild"):
            engine.vectors.search(np.ones(512, dtype=np.float32), 3)
        # Search still answers, by words only.
        results = engine.search("芯片")
        assert results.total == 4 and results.retrieval == "lexical"
        assert engine.rebuild_embeddings() == 4
        assert engine.status()["embedded"] == 4 and engine.vectors.stale_reason == ""
        assert engine.search("芯片").retrieval == "hybrid"


def test_vector_filters_and_other_processes(tmp_path: Path) -> None:
    home = tmp_path / "home"
    writer = open_engine(_settings(home))
    reader = open_engine(_settings(home))
    try:
        writer.ingest_paths([write_jsonl(tmp_path / "a.jsonl", _rows(6) + _rows(2, "en"))])
        assert reader.vectors is not None and len(reader.vectors) == 0
        reader.refresh()
        assert len(reader.vectors) == 8
        q = reader.vectors.embed_query("芯片")
        assert {h.id for h in reader.vectors.search(q, 10, VectorFilter(langs=("en",)))} == {
            "en0",
            "en1",
        }
        since = reader.vectors.search(q, 10, VectorFilter(since_ts=1757001600))  # 09-05 +08:00
        assert {h.id for h in since} == {"zh4", "zh5"}
        by_source = reader.vectors.search(q, 10, VectorFilter(sources=("甲报",), langs=("zh",)))
        assert {h.id for h in by_source} == {"zh1", "zh3", "zh5"}
        assert reader.vectors.search(q, 10, VectorFilter(sources=("无此报",))) == []
    finally:
        writer.close()
        reader.close()


def test_embedder_none_keeps_search_lexical(tmp_path: Path) -> None:
    with open_engine(_settings(tmp_path / "home", "none")) as engine:
        report = engine.ingest_paths([write_jsonl(tmp_path / "a.jsonl", _rows(3))])
        assert report.embedded == 0 and engine.vectors is None
        assert engine.status()["vector_index"] == "off"
        results = engine.search(SearchRequest(query="芯片", mode="hybrid"))
        assert results.total == 3 and results.retrieval == "lexical"


class _Counting:
    """An embedder that counts what it is asked to embed; ``sign`` flips its vectors."""

    def __init__(self, id: str, sign: float = 1.0) -> None:
        from newsdesk.embed.hashing import HashingEmbedder

        self._inner = HashingEmbedder()
        self.id = id
        self.dim = self._inner.dim
        self.sign = sign
        self.texts: list[str] = []

    def embed(self, texts: list[str], *, query: bool = False) -> np.ndarray:
        self.texts.extend(texts)
        return self.sign * self._inner.embed(texts, query=query)


def test_query_vectors_are_cached_by_text_and_model(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = _settings(tmp_path / "home")
    with open_engine(settings) as engine:
        engine.ingest_paths([write_jsonl(tmp_path / "a.jsonl", _rows(6))])
        vectors = engine.vectors
        assert vectors is not None
        counting = _Counting(vectors.embedder.id)
        monkeypatch.setattr(vectors, "embedder", counting)
        vectors.clear_query_cache()
        uncached = engine.search(SearchRequest("芯片 光刻机", sort="relevance"))
        assert uncached.retrieval == "hybrid" and uncached.hits
        first = vectors.embed_query("芯片")
        again = vectors.embed_query("芯片")
        assert counting.texts == ["芯片 光刻机", "芯片"]  # the second came from the cache
        np.testing.assert_array_equal(first, counting._inner.embed(["芯片"])[0])
        np.testing.assert_array_equal(again, first)
        with pytest.raises(ValueError):
            again[0] = 1.0  # shared between searches: read-only
        vectors.embed_query("芯片 ")  # the exact text is the key
        assert counting.texts == ["芯片 光刻机", "芯片", "芯片 "]
        # The same answers with the cache as without it.
        for _ in range(2):
            cached = engine.search(SearchRequest("芯片 光刻机", sort="relevance"))
            assert [(h.document.id, h.score) for h in cached.hits] == [
                (h.document.id, h.score) for h in uncached.hits
            ]
        assert counting.texts.count("芯片 光刻机") == 1
        # Another model never answers from the old model's vectors.
        other = _Counting("another-model", sign=-1.0)
        monkeypatch.setattr(vectors, "embedder", other)
        np.testing.assert_array_equal(vectors.embed_query("芯片"), -first)
        assert other.texts == ["芯片"]
        monkeypatch.setattr(vectors, "embedder", counting)
        np.testing.assert_array_equal(vectors.embed_query("芯片"), first)
        assert counting.texts.count("芯片") == 2  # the other model's entry replaced it
        # Bounded: the least recently used query goes first.
        monkeypatch.setattr("newsdesk.index.vectors.QUERY_CACHE_SIZE", 2)
        for text in ("甲", "乙", "丙", "乙", "甲"):
            vectors.embed_query(text)
        assert counting.texts[-4:] == ["甲", "乙", "丙", "甲"]
        vectors.clear_query_cache()
        vectors.embed_query("乙")
        assert counting.texts[-1] == "乙"


def test_the_embedded_count_from_the_watermark_equals_a_count_of_every_vector(
    tmp_path: Path,
) -> None:
    # Status and health count the documents with a current vector from the watermark
    # (the documents up to it, plus those changed since that have one) instead of
    # joining every vector: the same number through deferred, partial, updated and
    # deleted documents.
    with open_engine(_settings(tmp_path / "home")) as engine:
        vectors = engine.vectors
        assert vectors is not None
        store = engine.store

        def agree(expected: int) -> None:
            assert store.count_embedded() == expected
            assert vectors.embedded() == expected
            assert vectors.pending() == store.count_documents() - expected
            assert engine.status()["embedded"] == expected

        engine.ingest_paths([write_jsonl(tmp_path / "a.jsonl", _rows(5))], defer_embeddings=True)
        agree(0)
        assert vectors.behind()
        engine.embed_pending()
        agree(5)
        assert not vectors.behind()
        changed = _rows(5)
        changed[1]["paragraphs"] = ["改写后的正文：光刻机企业公布了新的计划与数字123。"]
        engine.ingest_paths([write_jsonl(tmp_path / "b.jsonl", changed)], defer_embeddings=True)
        agree(4)  # the changed one's vector is of its old revision
        assert vectors.behind()
        engine.ingest_paths([write_jsonl(tmp_path / "c.jsonl", _rows(7)[5:])])
        agree(7)
        deleted, missing = engine.delete_documents(["zh0"])
        assert len(deleted) == 1 and not missing
        agree(6)
