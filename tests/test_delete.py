"""Deleting documents: from the store, the lexical index, the vectors, the story groups and
the summaries; recorded; the same item may come back."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner

from conftest import LiveServer, write_jsonl
from newsdesk import Engine, SearchRequest, load_settings, open_engine
from newsdesk.cli import cli
from newsdesk.errors import NotFound

TOKEN = "delete-token"
STORY = [
    "国家发展改革委员会十二日宣布，将在未来三年内投入一千二百亿元支持半导体材料和关键设备的国产化，重点覆盖光刻胶、电子特气和大尺寸硅片。",
    "发言人表示，资金将通过产业投资基金和专项贷款两种方式发放，申报企业需在明年三月底前提交材料，评审结果预计在六月公布。",
    "业内分析人士认为，这笔资金规模约为去年同类计划的两倍，将明显缩短国内晶圆厂的材料验证周期，并带动上下游企业扩产。",
]


def _docs() -> list[dict[str, object]]:
    original = {
        "id": "story-a",
        "title": "发改委千亿资金支持半导体材料国产化",
        "source": "甲报",
        "published_at": "2025-10-12T09:00:00+08:00",
        "paragraphs": STORY,
    }
    copy = {
        **original,
        "id": "story-b",
        "source": "乙网",
        "published_at": "2025-10-12T11:30:00+08:00",
        "paragraphs": [*STORY, "（本文转载自甲报）"],
    }
    other = {
        "id": "other-1",
        "title": "欧洲央行维持利率不变",
        "source": "丙社",
        "published_at": "2025-10-13T20:00:00+08:00",
        "paragraphs": ["欧洲央行周四宣布维持存款便利利率在百分之二不变，符合市场预期。"],
    }
    return [original, copy, other]


def _settings(home: Path, **extra: object) -> object:
    return load_settings(home=home, overrides={"embedder": "hashing", **extra}, environ={})


@pytest.fixture
def filled(tmp_path: Path) -> Iterator[Engine]:
    with open_engine(_settings(tmp_path / "home")) as engine:  # type: ignore[arg-type]
        report = engine.ingest_paths([write_jsonl(tmp_path / "a.jsonl", _docs())])
        assert report.counts["accepted"] == 3
        assert engine.document("story-b").story_id == "story-a"
        yield engine


def _rows(engine: Engine, table: str, doc_id: str) -> int:
    column = "id" if table == "documents" else "doc_id"
    conn = engine.store.connection()
    return int(
        conn.execute(f"SELECT COUNT(*) FROM {table} WHERE {column} = ?", (doc_id,)).fetchone()[0]
    )


def _ids(engine: Engine, query: str, mode: str) -> set[str]:
    hits = engine.searcher.candidates(SearchRequest(query, mode=mode))
    return {d for d, _ in (hits.lexical if mode == "lexical" else hits.semantic)}


def test_delete_removes_the_document_from_everything(filled: Engine) -> None:
    engine = filled
    assert "story-a" in _ids(engine, "半导体材料", "lexical")
    assert "story-a" in _ids(engine, "半导体材料 国产化", "semantic")
    docs_before = engine.lexical.num_docs()

    deleted, missing = engine.delete_documents(["story-a", "no-such-id"])
    assert [d.doc_id for d in deleted] == ["story-a"] and missing == ["no-such-id"]

    for table in ("documents", "paragraphs", "summaries", "lsh_bands", "embeddings"):
        assert _rows(engine, table, "story-a") == 0, table
    with pytest.raises(NotFound):
        engine.document("story-a")
    assert engine.lexical.num_docs() == docs_before - 1
    assert "story-a" not in _ids(engine, "半导体材料", "lexical")
    assert "story-a" not in _ids(engine, "半导体材料 国产化", "semantic")
    # The story lives on in its other copy, which now represents it.
    survivor = engine.document("story-b")
    assert survivor.story_id == "story-b" and engine.other_sources(survivor) == []
    hits = engine.search(SearchRequest("半导体材料")).hits
    assert [h.document.id for h in hits] == ["story-b"] and hits[0].duplicates == ()
    [record] = engine.deletions()
    assert (record.doc_id, record.title) == ("story-a", "发改委千亿资金支持半导体材料国产化")
    status = engine.status()
    assert status["deleted"] == 1 and status["documents"] == 2
    assert status["not_indexed"] == 0 and status["without_vectors"] == 0


def test_a_deleted_item_may_be_ingested_again(filled: Engine, tmp_path: Path) -> None:
    engine = filled
    engine.delete_documents(["other-1"])
    again = engine.ingest_paths([write_jsonl(tmp_path / "b.jsonl", _docs()[2:])])
    assert again.counts["accepted"] == 1
    assert "other-1" in _ids(engine, "欧洲央行", "lexical")
    assert engine.document("other-1").title == "欧洲央行维持利率不变"


def test_a_busy_index_applies_the_deletion_at_its_next_catch_up(
    filled: Engine, tmp_path: Path
) -> None:
    engine = filled
    with open_engine(_settings(engine.settings.home)) as other:  # type: ignore[arg-type]
        writer = other.lexical._index.writer(heap_size=15_000_000, num_threads=1)
        try:
            engine.delete_documents(["other-1"])
            # The index still holds it, but no search shows a document the store lacks.
            assert engine.store.pending_deletions() == ["other-1"]
            assert engine.search(SearchRequest("欧洲央行")).total == 0
        finally:
            writer.rollback()
            del writer
    with open_engine(_settings(engine.settings.home)) as reopened:  # type: ignore[arg-type]
        assert reopened.store.pending_deletions() == []
        assert "other-1" not in _ids(reopened, "欧洲央行", "lexical")
        assert reopened.lexical.num_docs() == 2


def test_cli_delete_and_deletions(tmp_path: Path) -> None:
    home = tmp_path / "home"
    env = {"NEWSDESK_EMBEDDER": "hashing"}
    runner = CliRunner()
    src = write_jsonl(tmp_path / "a.jsonl", _docs())
    assert runner.invoke(cli, ["--home", str(home), "ingest", str(src)], env=env).exit_code == 0
    result = runner.invoke(
        cli, ["--home", str(home), "delete", "other-1", "nope", "--json"], env=env
    )
    assert result.exit_code == 1, result.output
    data = json.loads(result.stdout)
    assert [d["id"] for d in data["deleted"]] == ["other-1"] and data["not_found"] == ["nope"]
    listed = runner.invoke(cli, ["--home", str(home), "deletions", "--json"], env=env)
    assert [d["id"] for d in json.loads(listed.stdout)["deletions"]] == ["other-1"]
    ok = runner.invoke(cli, ["--home", str(home), "delete", "story-b"], env=env)
    assert ok.exit_code == 0 and "deleted story-b" in ok.stdout
    status = json.loads(
        runner.invoke(cli, ["--home", str(home), "status", "--json"], env=env).stdout
    )
    assert status["documents"] == 1 and status["deleted"] == 2


def test_api_delete_needs_the_token_and_is_recorded(tmp_path: Path) -> None:
    settings = _settings(tmp_path / "home", api_token=TOKEN)
    with open_engine(settings) as engine, LiveServer(engine) as server:  # type: ignore[arg-type]
        engine.ingest_paths([write_jsonl(tmp_path / "a.jsonl", _docs())])
        url = server.url + "/api/v1/documents/story-a"
        assert httpx.delete(url).status_code == 401
        r = httpx.delete(url, headers={"Authorization": f"Bearer {TOKEN}"})
        assert r.status_code == 200, r.text
        assert r.json()["deleted"]["id"] == "story-a"
        assert httpx.get(url).status_code == 404
        again = httpx.delete(url, headers={"Authorization": f"Bearer {TOKEN}"})
        assert again.status_code == 404 and again.json()["error"]["code"] == "not_found"
        listed = httpx.get(server.url + "/api/v1/deletions").json()["deletions"]
        assert [d["id"] for d in listed] == ["story-a"]
        found = httpx.get(server.url + "/api/v1/search", params={"q": "半导体材料"}).json()
        assert [h["id"] for h in found["results"]] == ["story-b"]
