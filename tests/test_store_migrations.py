"""Versioned migrations, applied on start: from an empty database and from the previous
version, on SQLite and on PostgreSQL; a newer schema is refused; concurrent starts."""

from __future__ import annotations

import sqlite3
import threading
from datetime import timedelta
from pathlib import Path

import pytest

from newsdesk.errors import StoreError
from newsdesk.store import TranslationKey, postgres_migrations
from newsdesk.store.migrations import MIGRATIONS
from newsdesk.store.sqlite import SQLiteStore
from newsdesk.store.sqlite_translations import SQLiteTranslations
from newsdesk.store.sqlite_work import SQLiteFeeds, SQLiteJobs
from newsdesk.store.translations import TranslationCache

psycopg = pytest.importorskip("psycopg")

JOBS_TABLES = {"jobs", "workers", "input_failures"}
KEY = TranslationKey("zh", "en", "libretranslate")


def _old_sqlite(path: Path, version: int) -> None:
    """A home written by an earlier newsdesk: schema ``version``, a document and a feed."""
    conn = sqlite3.connect(path)
    for number, script in enumerate(MIGRATIONS[:version], start=1):
        conn.executescript(f"BEGIN;\n{script}\nPRAGMA user_version={number};\nCOMMIT;")
    conn.execute(
        "INSERT INTO documents (id, rev, title, content_hash, story_id, ingested_at)"
        " VALUES ('old', 1, 'An old document', 'h', 'old', '2025-01-01T00:00:00+00:00')"
    )
    conn.execute("INSERT INTO paragraphs (doc_id, n, text) VALUES ('old', 1, 'kept')")
    conn.execute(
        "INSERT INTO feeds (url, added_at, etag) VALUES"
        " ('https://a.example/rss', '2025-01-01T00:00:00+00:00', 'e1')"
    )
    conn.commit()
    conn.close()


# From schema 3 (feeds) on: a home of each earlier newsdesk with a feed.
@pytest.mark.parametrize("version", range(3, len(MIGRATIONS)))
def test_sqlite_from_empty_and_from_earlier_versions(tmp_path: Path, version: int) -> None:
    fresh = SQLiteStore(tmp_path / "fresh.sqlite3")
    assert fresh.schema_version == len(MIGRATIONS)
    # A new home pairs stories across languages from its first document on.
    assert fresh.index_state("crosslingual_from") == (0, {})
    fresh.close()
    path = tmp_path / "old.sqlite3"
    _old_sqlite(path, version)
    store = SQLiteStore(path)
    try:
        assert store.schema_version == len(MIGRATIONS)
        doc = store.get_document("old")
        assert doc is not None and doc.paragraphs[0].text == "kept"
        feeds = SQLiteFeeds(store)
        (feed,) = feeds.all()
        assert feed.etag == "e1" and feed.next_poll_at is None and feed.lease_owner == ""
        assert store.story_links(["old"]) == []
        # Documents stored before pairing existed are left as they are (not re-paired
        # on the critical path of the next ingest).
        assert store.index_state("crosslingual_from") == (1, {})
        assert [f.url for f in feeds.claim_due("w", timedelta(seconds=5))] == [feed.url]
        job, new = SQLiteJobs(store).enqueue("url", "https://a.example/1")
        assert new and job.state == "queued"
        cache = TranslationCache(SQLiteTranslations(store))
        cache.put(KEY, {"旧": "old"})
        assert cache.get(KEY, ["旧"]) == {"旧": "old"}
    finally:
        store.close()


def _tables(conn: object) -> set[str]:
    rows = conn.execute(  # type: ignore[attr-defined]
        "SELECT tablename FROM pg_tables WHERE schemaname = 'public'"
    ).fetchall()
    return {r[0] for r in rows}


def test_postgres_from_empty(pg_url: str) -> None:
    from newsdesk.store.postgres import PostgresStore

    store = PostgresStore(pg_url)
    try:
        assert store.schema_version == len(postgres_migrations.MIGRATIONS)
    finally:
        store.close()
    with psycopg.connect(pg_url) as conn:
        expected = {"documents", "paragraphs", "feeds", "embeddings", "deletions", "translations"}
        assert JOBS_TABLES | expected <= _tables(conn)
    again = PostgresStore(pg_url)  # a second start changes nothing
    assert again.schema_version == len(postgres_migrations.MIGRATIONS)
    again.close()


@pytest.mark.parametrize("previous", range(1, len(postgres_migrations.MIGRATIONS)))
def test_postgres_from_earlier_versions(pg_url: str, previous: int) -> None:
    from newsdesk.store.postgres import PostgresStore
    from newsdesk.store.postgres_translations import PostgresTranslations
    from newsdesk.store.postgres_work import PostgresFeeds, PostgresJobs

    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute("CREATE TABLE newsdesk_schema (version INTEGER NOT NULL)")
        for script in postgres_migrations.MIGRATIONS[:previous]:
            conn.execute(script)
        conn.execute("INSERT INTO newsdesk_schema (version) VALUES (%s)", (previous,))
        conn.execute(
            "INSERT INTO documents (id, rev, title, content_hash, story_id, ingested_at)"
            " VALUES ('old', nextval('document_revs'), 'An old document', 'h', 'old', 'x')"
        )
        conn.execute("INSERT INTO paragraphs (doc_id, n, text) VALUES ('old', 1, 'kept')")
        conn.execute(
            "INSERT INTO feeds (url, added_at, etag) VALUES"
            " ('https://a.example/rss', '2025-01-01T00:00:00+00:00', 'e1')"
        )
        if previous < 4:
            assert "translations" not in _tables(conn)
        assert "story_links" not in _tables(conn)
        if previous < 3:
            assert not JOBS_TABLES & _tables(conn)
    store = PostgresStore(pg_url)
    try:
        assert store.schema_version == len(postgres_migrations.MIGRATIONS)
        doc = store.get_document("old")
        assert doc is not None and doc.paragraphs[0].text == "kept"
        feeds = PostgresFeeds(store)
        (feed,) = feeds.all()
        assert feed.etag == "e1" and feed.next_poll_at is None
        assert [f.url for f in feeds.claim_due("w", timedelta(seconds=5))] == [feed.url]
        job, new = PostgresJobs(store).enqueue("url", "https://a.example/1")
        assert new and job.state == "queued"
        cache = TranslationCache(PostgresTranslations(store))
        cache.put(KEY, {"旧": "old"})
        assert cache.get(KEY, ["旧"]) == {"旧": "old"}
        assert store.story_links(["old"]) == []
        state = store.index_state("crosslingual_from")
        assert state is not None and state[0] == store.max_rev() > 0
    finally:
        store.close()


def test_postgres_refuses_a_newer_schema(pg_url: str) -> None:
    from newsdesk.store.postgres import PostgresStore

    PostgresStore(pg_url).close()
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute("UPDATE newsdesk_schema SET version = version + 1")
    with pytest.raises(StoreError, match="newer"):
        PostgresStore(pg_url)


def test_postgres_concurrent_starts_migrate_once(pg_url: str) -> None:
    from newsdesk.store.postgres import PostgresStore

    errors: list[BaseException] = []
    versions: list[int] = []

    def start() -> None:
        try:
            store = PostgresStore(pg_url)
            versions.append(store.schema_version)
            store.close()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=start) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert versions == [len(postgres_migrations.MIGRATIONS)] * 4
