"""The store and the derived index: migrations, crash catch-up, rebuild."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from conftest import write_jsonl
from newsdesk import dedupe, load_settings, open_engine
from newsdesk import engine as engine_module
from newsdesk.errors import StoreError
from newsdesk.index.lexical import NAME as LEXICAL
from newsdesk.store.migrations import MIGRATIONS
from newsdesk.store.sqlite import SQLiteStore

TOPICS = ["光刻机", "存储器", "封装测试", "设计软件", "晶圆代工", "功率器件", "模拟电路", "传感器"]


def _rows(n: int) -> list[dict[str, object]]:
    return [
        {
            "id": f"d{i}",
            "title": f"芯片{TOPICS[i]}新闻",
            "published_at": f"2025-09-{i + 1:02d}",
            "paragraphs": [f"{TOPICS[i]}领域的芯片企业本月公布了{i * 10 + 7}项新计划。"],
        }
        for i in range(n)
    ]


def test_schema_is_migrated_and_wal(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "db.sqlite3")
    assert store.schema_version == len(MIGRATIONS)
    conn = sqlite3.connect(tmp_path / "db.sqlite3")
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    conn.execute(f"PRAGMA user_version={len(MIGRATIONS) + 1}")
    conn.close()
    store.close()
    with pytest.raises(StoreError, match="newer"):
        SQLiteStore(tmp_path / "db.sqlite3")


def test_not_a_database_is_a_clear_error(tmp_path: Path) -> None:
    bad = tmp_path / "db.sqlite3"
    bad.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(StoreError):
        SQLiteStore(bad)


def test_index_catches_up_after_a_crash_between_store_and_index(tmp_path: Path) -> None:
    settings = load_settings(home=tmp_path / "home", environ={})
    with open_engine(settings) as engine:
        engine.ingest_paths([write_jsonl(tmp_path / "a.jsonl", _rows(5))])
        assert engine.status()["indexed"] == 5
        # Simulate a crash after the store committed but before the index did: the
        # watermark lags behind the store.
        engine.store.set_index_state(LEXICAL, 2, engine.store.index_state(LEXICAL)[1])  # type: ignore[index]
        assert engine.status()["indexed"] == 2
    with open_engine(settings) as engine:
        status = engine.status()
        assert status["indexed"] == status["documents"] == 5
        # Re-indexing replaced documents instead of adding copies.
        assert engine.lexical.num_docs() == 5
        assert engine.search("芯片").total == 5


def test_rebuild_from_store(tmp_path: Path) -> None:
    settings = load_settings(home=tmp_path / "home", environ={})
    with open_engine(settings) as engine:
        engine.ingest_paths([write_jsonl(tmp_path / "a.jsonl", _rows(4))])
        before = [h.document.id for h in engine.search("芯片").hits]
        assert engine.rebuild_index() == 4
        assert engine.lexical.num_docs() == 4
        assert [h.document.id for h in engine.search("芯片").hits] == before


def test_signatures_from_another_dedupe_version_are_recomputed(tmp_path: Path) -> None:
    settings = load_settings(home=tmp_path / "home", environ={})
    with open_engine(settings) as engine:
        engine.ingest_paths([write_jsonl(tmp_path / "a.jsonl", _rows(3))])
        good = engine.store.connection().execute("SELECT id, minhash FROM documents").fetchall()
        # A home written by an older dedupe: other parameters, other signatures.
        engine.store.set_index_state("dedupe", 0, {"version": 1})
        engine.store.replace_signatures([(r["id"], b"old", []) for r in good])
    with open_engine(settings) as engine:
        rows = engine.store.connection().execute("SELECT id, minhash FROM documents").fetchall()
        assert {r["id"]: r["minhash"] for r in rows} == {r["id"]: r["minhash"] for r in good}
        assert engine.store.index_state("dedupe") == (0, dedupe.PARAMS)


def test_ingest_while_another_process_holds_the_index_writer(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(engine_module, "INDEX_BUSY_RETRIES", (3, 0.01))
    settings = load_settings(home=tmp_path / "home", environ={})
    with open_engine(settings) as engine, open_engine(settings) as other:
        # The other engine takes the writer, as a concurrent ingest's catch-up does.
        writer = other.lexical._index.writer(heap_size=15_000_000, num_threads=1)
        report = engine.ingest_paths([write_jsonl(tmp_path / "a.jsonl", _rows(3))])
        assert report.counts["accepted"] == 3
        assert report.indexed == 0 and report.index_deferred
        writer.rollback()
        del writer
    with open_engine(settings) as engine:
        status = engine.status()
        assert status["documents"] == status["indexed"] == 3
