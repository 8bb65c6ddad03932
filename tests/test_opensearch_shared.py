"""One OpenSearch index shared by every process on one PostgreSQL store.

Web servers keep no index copy and never index: the processes that ingest (workers)
catch the cluster up, one at a time under the store's lock, and the watermarks in the
store only move forward. Live PostgreSQL and OpenSearch (started by the fixtures).
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

import pytest

import newsdesk.engine as engine_module
from conftest import opensearch_env, write_jsonl
from newsdesk import Engine, SearchRequest, load_settings, open_engine
from newsdesk.config import Settings
from newsdesk.engine import open_store
from newsdesk.errors import SearchIndexError
from newsdesk.index.opensearch import OpenSearchLexical
from newsdesk.index.opensearch_cluster import (
    CATCH_UP_LOCK,
    DELETION_STATE,
    STATE,
    OpenSearchCluster,
)

# One distinct word per document, so each is found by itself.
WORDS = [
    "光刻机",
    "存储器",
    "封装测试",
    "设计软件",
    "晶圆代工",
    "功率器件",
    "锂电池",
    "光伏组件",
    "稀土永磁",
    "工业母机",
    "卫星互联网",
    "氢燃料",
    "碳化硅",
    "操作系统",
    "数据库",
]


def _rows(prefix: str, numbers: range) -> list[dict[str, Any]]:
    return [
        {
            "id": f"{prefix}{i}",
            "title": f"{WORDS[i % len(WORDS)]}产业第{i}号报道",
            "published_at": f"2025-09-{i % 28 + 1:02d}",
            "lang": "zh",
            "source": "甲报",
            "paragraphs": [
                f"第{i}号报道：{WORDS[i % len(WORDS)]}企业公布{i * 13 + 7}亿元投资计划，"
                f"{WORDS[(i + 5) % len(WORDS)]}与{WORDS[(i + 9) % len(WORDS)]}项目随后跟进。"
            ],
        }
        for i in numbers
    ]


def _env(pg_url: str, os_url: str, name: str, **extra: str) -> dict[str, str]:
    return {
        **opensearch_env(os_url, name),
        "NEWSDESK_STORE_URL": pg_url,
        "NEWSDESK_EMBEDDER": "hashing",
        **extra,
    }


def _cluster(engine: Engine) -> OpenSearchCluster:
    return cast(OpenSearchLexical, engine.lexical).cluster


def _in_cluster(cluster: OpenSearchCluster) -> dict[str, int]:
    """Every document id the cluster holds, with how many times it was written."""
    found = cluster.search(
        {"query": {"match_all": {}}, "size": 1000, "_source": False, "version": True}
    )
    return {h["_id"]: int(h["_version"]) for h in found["hits"]["hits"]}


def _watermark(engine: Engine) -> int:
    return (engine.store.index_state(STATE) or (0, {}))[0]


@contextlib.contextmanager
def _another_process_catching_up(settings: Settings) -> Iterator[None]:
    """Hold the cluster's catch-up lock from another store connection."""
    store = open_store(settings).store
    try:
        with store.try_lock(CATCH_UP_LOCK) as held:
            assert held
            yield
    finally:
        store.close()


def test_servers_keep_no_copy_and_workers_catch_the_cluster_up_under_the_lock(
    pg_url: str, opensearch_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # An ingest waits for a busy index only briefly here (the documents stay stored).
    monkeypatch.setattr(engine_module, "INDEX_BUSY_RETRIES", (2, 0.01))
    env = _env(pg_url, opensearch_url, "shared")
    server_settings = load_settings(home=tmp_path / "server", environ=env)
    worker_settings = load_settings(home=tmp_path / "worker", environ=env)
    with open_engine(worker_settings) as worker, open_engine(server_settings) as server:
        assert server.index_is_shared and worker.index_on_ingest
        cluster = _cluster(worker)
        first = worker.ingest_paths([write_jsonl(tmp_path / "a.jsonl", _rows("sh", range(4)))])
        assert first.indexed == 4
        assert set(_in_cluster(cluster)) == {f"sh{i}" for i in range(4)}

        # Another process is catching the cluster up: an ingest stores its documents
        # and leaves the indexing to that process (or a later catch-up).
        with _another_process_catching_up(worker_settings):
            report = worker.ingest_paths(
                [write_jsonl(tmp_path / "b.jsonl", _rows("sh", range(4, 8)))]
            )
            assert report.counts["accepted"] == 4 and report.indexed == 0
            with pytest.raises(SearchIndexError, match="busy"):
                worker.index_pending()
            with pytest.raises(SearchIndexError, match="busy"):
                cluster.catch_up_vectors()
            assert worker.index_when_behind() == 0
        assert len(_in_cluster(cluster)) == 4

        # The lock is free again, yet a web server does not index: it has no copy of
        # the index, and the cluster is the workers' to keep up.
        mark = server.store.index_state(STATE)
        server.refresh()
        assert server.store.index_state(STATE) == mark and server.lexical.behind()
        assert len(_in_cluster(cluster)) == 4
        index_dir = server_settings.index_dir
        assert not index_dir.exists() or not any(index_dir.iterdir())
        assert server.status()["lag"]["index_watermark"] == f"store:{STATE}"

        # An idle worker catches the cluster up with what it missed.
        assert worker.index_when_behind() == 4
        assert not server.lexical.behind()
        assert _watermark(server) == server.store.max_rev()
        assert set(_in_cluster(cluster)) == {f"sh{i}" for i in range(8)}
        server.refresh()
        hits = server.search(SearchRequest(f'"{WORDS[6]}产业"', mode="lexical")).hits
        assert [h.document.id for h in hits] == ["sh6"]

        # Deletions leave the cluster at the next catch-up, also when it was busy.
        with _another_process_catching_up(worker_settings):
            deleted, _ = worker.delete_documents(["sh1"])
            assert [d.doc_id for d in deleted] == ["sh1"]
            assert "sh1" in _in_cluster(cluster) and server.lexical.behind()
        assert worker.index_when_behind() == 0  # no document to send, one to delete
        assert "sh1" not in _in_cluster(cluster) and len(_in_cluster(cluster)) == 7
        deletions = server.store.index_state(DELETION_STATE)
        assert deletions is not None and deletions[0] == server.store.deletion_seq()
        assert not server.lexical.behind()
        assert server.search(SearchRequest(f'"{WORDS[1]}产业"', mode="lexical")).hits == ()


def test_concurrent_catch_ups_send_each_document_once_and_never_move_back(
    pg_url: str, opensearch_url: str, tmp_path: Path
) -> None:
    """Three processes ingest at once: every document reaches the cluster exactly once
    (one write each), and the watermark others read only ever moves forward."""
    env = _env(pg_url, opensearch_url, "concurrent", NEWSDESK_EMBEDDER="none")
    engines = [open_engine(load_settings(home=tmp_path / f"w{n}", environ=env)) for n in range(3)]
    seen: list[int] = []
    stop = threading.Event()
    errors: list[BaseException] = []

    def watch() -> None:
        while not stop.is_set():
            seen.append(_watermark(engines[0]))
            time.sleep(0.005)

    def ingest(n: int) -> None:
        try:
            for batch in range(3):
                start = (n * 3 + batch) * 5
                rows = _rows(f"c{n}-", range(start, start + 5))
                path = write_jsonl(tmp_path / f"w{n}-{batch}.jsonl", rows)
                engines[n].ingest_paths([path])
        except BaseException as exc:
            errors.append(exc)

    watcher = threading.Thread(target=watch)
    watcher.start()
    workers = [threading.Thread(target=ingest, args=(n,)) for n in range(3)]
    try:
        for t in workers:
            t.start()
        for t in workers:
            t.join()
        for engine in engines:  # whatever a busy index left (each ingest waits only a little)
            engine.index_when_free()
    finally:
        stop.set()
        watcher.join()
        for engine in engines:
            engine.close()
    assert errors == []
    assert seen == sorted(seen), "the watermark moved back"
    store_count = 45
    with open_engine(load_settings(home=tmp_path / "check", environ=env)) as check:
        assert check.store.count_documents() == store_count
        assert _watermark(check) == check.store.max_rev()
        written = _in_cluster(_cluster(check))
    assert len(written) == store_count
    assert set(written.values()) == {1}, "a document was sent to the cluster more than once"
