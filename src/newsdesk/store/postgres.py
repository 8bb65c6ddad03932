"""PostgreSQL document store, shared by any number of workers and web servers.

Selected by ``store_url = "postgresql://user@host:port/db"`` (or
``NEWSDESK_STORE_URL``); needs ``pip install 'newsdesk[postgres]'`` (psycopg 3 and
psycopg-pool). The tables mirror the SQLite store's and every method keeps its
contract, checked by the same test suite.

Concurrency, where several machines write at once:

- Document writes (:meth:`PostgresStore.transaction`, :meth:`PostgresStore.put`)
  hold one transaction-scoped advisory lock. Revisions are drawn from a sequence
  under that lock, so they become visible in increasing order and an index that
  follows the store by revision (``rows_since``) never skips a document committed
  late; and the near-duplicate grouping of a document sees every document any
  worker stored before it, so copies of one story ingested at the same moment by
  two workers still form one story. Fetching, parsing, fingerprints, summaries and
  embeddings happen outside the lock; only grouping and the inserts are serialized.
- A document id is a primary key and the writes are upserts: nothing is stored twice.
- :meth:`PostgresStore.try_lock` is a session advisory lock: released by the server
  if its holder dies.

A connection that breaks (a server restart) is dropped by the pool and the call
raises :class:`~newsdesk.errors.StoreUnavailable`; callers such as the worker retry.
"""

from __future__ import annotations

import contextlib
import json
import threading
import zlib
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import psycopg
from psycopg.conninfo import conninfo_to_dict
from psycopg.rows import DictRow, dict_row
from psycopg_pool import ConnectionPool, PoolTimeout

from newsdesk.errors import StoreError, StoreUnavailable
from newsdesk.models import Document, DuplicateRef, Paragraph, Summary
from newsdesk.store import Deletion, IndexRow, StoredOutcome, SummaryFailure, VectorRow
from newsdesk.store.postgres_migrations import MIGRATIONS

Conn = psycopg.Connection[DictRow]
# A document's columns (without its signature) and its paragraph texts in order.
_DOC_COLUMNS = (
    "d.id, d.url, d.title, d.source, d.published_at, d.lang, d.category, d.content_hash, d.story_id"
)
_PARAGRAPHS = (
    "COALESCE((SELECT array_agg(p.text ORDER BY p.n) FROM paragraphs p"
    " WHERE p.doc_id = d.id), '{}') AS texts"
)


def lock_key(name: str) -> int:
    """A stable advisory-lock key for ``name`` (one namespace per purpose)."""
    return zlib.crc32(f"newsdesk:{name}".encode())


WRITE_LOCK = lock_key("document-writes")
MIGRATE_LOCK = lock_key("migrations")


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def clean_text(text: str) -> str:
    # PostgreSQL text cannot hold NUL; SQLite can. Hostile input may carry it.
    return text.replace("\x00", "") if "\x00" in text else text


def redacted(url: str) -> str:
    """``url`` without its password, for messages and ``status``."""
    try:
        parts = conninfo_to_dict(url)
    except psycopg.ProgrammingError:
        return "postgresql://(unparsable URL)"
    user = parts.get("user", "")
    host = parts.get("host", "")
    port = parts.get("port", "")
    db = parts.get("dbname", "")
    who = f"{user}@" if user else ""
    where = f"{host}:{port}" if port else str(host)
    return f"postgresql://{who}{where}/{db}"


class PostgresStore:
    """The document store on a PostgreSQL database (see the module docstring)."""

    kind = "postgresql"
    # Other machines write here too: each local index keeps its own watermark.
    shared = True

    def __init__(self, url: str, *, pool_size: int = 8, timeout: float = 10.0) -> None:
        """Connect (lazily, through a pool) and bring the schema up to date.

        Raises:
            StoreUnavailable: the server cannot be reached within ``timeout``.
            StoreError: the database has a newer schema than this newsdesk.
        """
        self.url = url
        self._where = redacted(url)
        self._local = threading.local()
        try:
            self._pool: ConnectionPool[Conn] = ConnectionPool(
                url,
                connection_class=psycopg.Connection[DictRow],
                kwargs={"autocommit": True, "row_factory": dict_row},
                min_size=1,
                max_size=max(1, pool_size),
                timeout=timeout,
                # No check on every checkout (a round trip each, measured: most of the
                # store's share of a search on a busy machine); a connection found dead
                # after a server restart makes the pool check all of them, and reads retry.
                reconnect_timeout=max(60.0, timeout * 6),
                name="newsdesk-store",
                open=True,
            )
        except psycopg.Error as exc:
            raise StoreError(f"bad store_url {self._where}: {exc}") from exc
        try:
            self._migrate()
        except BaseException:
            self._pool.close()
            raise

    def describe(self) -> str:
        return self._where

    def close(self) -> None:
        self._pool.close()

    # -- connections -------------------------------------------------------------------
    @contextmanager
    def _errors(self) -> Iterator[None]:
        try:
            yield
        except psycopg.OperationalError as exc:  # includes the pool's timeout
            if not isinstance(exc, PoolTimeout):
                # A broken connection: the server restarted or went away. Drop every
                # idle connection that is dead too, so the next call gets a live one.
                with contextlib.suppress(Exception):
                    self._pool.check()
            raise StoreUnavailable(
                f"the PostgreSQL store {self._where} is unavailable: {exc}"
            ) from exc
        except psycopg.Error as exc:
            raise StoreError(f"the PostgreSQL store {self._where} failed: {exc}") from exc

    @contextmanager
    def session(self) -> Iterator[Conn]:
        """This thread's open transaction, else a pooled connection in autocommit."""
        tx: Conn | None = getattr(self._local, "tx", None)
        if tx is not None:
            yield tx
            return
        with self._errors(), self._pool.connection() as conn:
            yield conn

    @contextmanager
    def write(self, lock: bool = False) -> Iterator[Conn]:
        """A transaction on one connection (joined if this thread has one open).

        With ``lock``, the document-writes lock is held until it commits.
        """
        tx: Conn | None = getattr(self._local, "tx", None)
        if tx is not None:
            if lock and not getattr(self._local, "locked", False):
                tx.execute("SELECT pg_advisory_xact_lock(%s)", (WRITE_LOCK,))
                self._local.locked = True
            yield tx
            return
        with self._errors(), self._pool.connection() as conn, conn.transaction():
            if lock:
                conn.execute("SELECT pg_advisory_xact_lock(%s)", (WRITE_LOCK,))
            self._local.tx = conn
            self._local.locked = lock
            try:
                yield conn
            finally:
                self._local.tx = None
                self._local.locked = False

    def transaction(self) -> Any:
        """A batch of document writes, serialized with every other writer's."""
        return self.write(lock=True)

    @contextmanager
    def try_lock(self, name: str) -> Iterator[bool]:
        """A session advisory lock on a connection held for the duration."""
        key = lock_key(f"named:{name}")
        with self._errors(), self._pool.connection() as conn:
            got = conn.execute("SELECT pg_try_advisory_lock(%s) AS got", (key,)).fetchone()
            if not got or not got["got"]:
                yield False
                return
            try:
                yield True
            finally:
                conn.execute("SELECT pg_advisory_unlock(%s)", (key,))

    def _migrate(self) -> None:
        with self._errors(), self._pool.connection() as conn, conn.transaction():
            # Several processes may start at once: one migrates, the others wait and see.
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (MIGRATE_LOCK,))
            conn.execute("CREATE TABLE IF NOT EXISTS newsdesk_schema (version INTEGER NOT NULL)")
            row = conn.execute("SELECT version FROM newsdesk_schema").fetchone()
            if row is None:
                conn.execute("INSERT INTO newsdesk_schema (version) VALUES (0)")
                version = 0
            else:
                version = int(row["version"])
            if version > len(MIGRATIONS):
                raise StoreError(
                    f"{self._where} has schema {version}, newer than this newsdesk "
                    f"({len(MIGRATIONS)}); upgrade newsdesk"
                )
            for number in range(version + 1, len(MIGRATIONS) + 1):
                conn.execute(MIGRATIONS[number - 1])
                conn.execute("UPDATE newsdesk_schema SET version = %s", (number,))

    @property
    def schema_version(self) -> int:
        with self.session() as conn:
            row = conn.execute("SELECT version FROM newsdesk_schema").fetchone()
        return int(row["version"]) if row else 0

    # -- writes ------------------------------------------------------------------------
    def put(
        self,
        doc: Document,
        *,
        minhash: bytes,
        bands: Sequence[int],
        summary: Summary | None,
        origin: str = "",
    ) -> StoredOutcome:
        """Insert or update a document with its paragraphs, band keys and summary.

        Returns ``unchanged`` if the same id already holds the same content, and
        ``duplicate`` if another document has the same content or URL.
        """
        with self.write(lock=True) as conn:
            # Under the write lock every round trip holds up the other workers: one
            # query for the checks, one pipelined flush for the writes.
            found = conn.execute(
                "SELECT (SELECT content_hash FROM documents WHERE id = %(id)s) AS own,"
                " (SELECT id FROM documents WHERE content_hash = %(hash)s AND id <> %(id)s"
                " LIMIT 1) AS same_content,"
                " (SELECT id FROM documents WHERE url = %(url)s AND url <> '' AND id <> %(id)s"
                " LIMIT 1) AS same_url",
                {"id": doc.id, "hash": doc.content_hash, "url": clean_text(doc.url)},
            ).fetchone()
            assert found is not None
            existing = found["own"]
            if existing == doc.content_hash:
                return StoredOutcome("unchanged", doc.id)
            dup = found["same_content"] or (found["same_url"] if doc.url else None)
            if dup is not None:
                return StoredOutcome("duplicate", doc.id, duplicate_of=dup)
            published = doc.published_at
            with conn.pipeline(), conn.cursor() as cur:
                if existing is not None:
                    for table in ("paragraphs", "lsh_bands", "summaries", "summary_errors"):
                        cur.execute(f"DELETE FROM {table} WHERE doc_id = %s", (doc.id,))
                else:
                    # Deleted before and stored again: a shared index must not remove it.
                    cur.execute(
                        "UPDATE deletions SET index_pending = FALSE WHERE doc_id = %s"
                        " AND index_pending",
                        (doc.id,),
                    )
                cur.execute(
                    "INSERT INTO documents (id, rev, url, title, source, published_at,"
                    " published_ts, lang, category, content_hash, story_id, minhash, origin,"
                    " ingested_at) VALUES (%s, nextval('document_revs'), %s, %s, %s, %s, %s,"
                    " %s, %s, %s, %s, %s, %s, %s)"
                    " ON CONFLICT (id) DO UPDATE SET rev = excluded.rev, url = excluded.url,"
                    " title = excluded.title, source = excluded.source,"
                    " published_at = excluded.published_at,"
                    " published_ts = excluded.published_ts, lang = excluded.lang,"
                    " category = excluded.category, content_hash = excluded.content_hash,"
                    " story_id = excluded.story_id, minhash = excluded.minhash,"
                    " origin = excluded.origin, ingested_at = excluded.ingested_at",
                    (
                        doc.id,
                        clean_text(doc.url),
                        clean_text(doc.title),
                        clean_text(doc.source),
                        published.isoformat() if published else None,
                        int(published.timestamp()) if published else None,
                        clean_text(doc.lang),
                        clean_text(doc.category),
                        doc.content_hash,
                        doc.story_id or doc.id,
                        minhash,
                        clean_text(origin),
                        _now(),
                    ),
                )
                cur.executemany(
                    "INSERT INTO paragraphs (doc_id, n, text) VALUES (%s, %s, %s)",
                    [(doc.id, p.n, clean_text(p.text)) for p in doc.paragraphs],
                )
                cur.executemany(
                    "INSERT INTO lsh_bands (band, key, doc_id) VALUES (%s, %s, %s)"
                    " ON CONFLICT DO NOTHING",
                    [(band, key, doc.id) for band, key in enumerate(bands)],
                )
                if summary is not None:
                    self._put_summary(conn, summary)
            return StoredOutcome("accepted" if existing is None else "updated", doc.id)

    def replace_signatures(self, rows: Sequence[tuple[str, bytes, Sequence[int]]]) -> None:
        """Store new near-duplicate signatures and band keys (doc id, minhash, bands)."""
        with self.write(lock=True) as conn, conn.cursor() as cur:
            for doc_id, minhash, bands in rows:
                cur.execute("UPDATE documents SET minhash = %s WHERE id = %s", (minhash, doc_id))
                cur.execute("DELETE FROM lsh_bands WHERE doc_id = %s", (doc_id,))
                cur.executemany(
                    "INSERT INTO lsh_bands (band, key, doc_id) VALUES (%s, %s, %s)"
                    " ON CONFLICT DO NOTHING",
                    [(band, key, doc_id) for band, key in enumerate(bands)],
                )

    def savepoint(self) -> Any:
        """Writes that succeed or fail together inside the caller's transaction."""
        return self._savepoint()

    @contextmanager
    def _savepoint(self) -> Iterator[Conn]:
        tx: Conn | None = getattr(self._local, "tx", None)
        try:
            if tx is None:
                with self.write(lock=True) as conn:
                    yield conn
                return
            with tx.transaction():  # nested: a SAVEPOINT, rolled back on error
                yield tx
        except psycopg.OperationalError as exc:
            raise StoreUnavailable(
                f"the PostgreSQL store {self._where} is unavailable: {exc}"
            ) from exc
        except (psycopg.Error, UnicodeError) as exc:
            raise StoreError(f"the store refused the document: {exc}") from exc

    def delete_documents(self, ids: Sequence[str], now: str = "") -> list[Deletion]:
        """Delete documents with everything that hangs off them, and record each.

        Paragraphs, summaries, summary errors, band keys and vectors go with the
        document (foreign keys cascade). A story that loses its representative is
        renamed after its earliest remaining member. Unknown ids are ignored. Held
        under the document-writes lock, so deletions are numbered in commit order.
        """
        out: list[Deletion] = []
        when = now or _now()
        with self.write(lock=True) as conn:
            for doc_id in dict.fromkeys(ids):
                row = conn.execute(
                    "SELECT rev, title, url, content_hash, story_id FROM documents WHERE id = %s",
                    (doc_id,),
                ).fetchone()
                if row is None:
                    continue
                made = conn.execute(
                    "INSERT INTO deletions (doc_id, rev, title, url, content_hash, deleted_at)"
                    " VALUES (%s, %s, %s, %s, %s, %s) RETURNING seq",
                    (doc_id, row["rev"], row["title"], row["url"], row["content_hash"], when),
                ).fetchone()
                assert made is not None
                conn.execute("DELETE FROM documents WHERE id = %s", (doc_id,))
                if row["story_id"] == doc_id:
                    conn.execute(
                        "UPDATE documents SET story_id = heir.id FROM (SELECT id FROM documents"
                        " WHERE story_id = %s ORDER BY published_ts IS NULL, published_ts,"
                        ' id COLLATE "C" LIMIT 1) AS heir WHERE documents.story_id = %s',
                        (doc_id, doc_id),
                    )
                out.append(Deletion(int(made["seq"]), doc_id, row["title"], row["url"], when))
        return out

    def deletions(self, limit: int = 1000) -> list[Deletion]:
        """Recorded deletions, newest first."""
        rows = self._all(
            "SELECT seq, doc_id, title, url, deleted_at FROM deletions ORDER BY seq DESC LIMIT %s",
            (limit,),
        )
        return [
            Deletion(int(r["seq"]), r["doc_id"], r["title"], r["url"], r["deleted_at"])
            for r in rows
        ]

    def count_deletions(self) -> int:
        return int(self._one("SELECT COUNT(*) FROM deletions"))

    def deletion_seq(self) -> int:
        """The sequence number of the latest deletion (0 when none)."""
        return int(self._one("SELECT COALESCE(MAX(seq), 0) FROM deletions"))

    def deleted_since(self, seq: int) -> list[str]:
        """Ids deleted after deletion ``seq`` and not stored again since."""
        rows = self._all(
            "SELECT DISTINCT x.doc_id FROM deletions x LEFT JOIN documents d"
            " ON d.id = x.doc_id WHERE x.seq > %s AND d.id IS NULL",
            (seq,),
        )
        return [r["doc_id"] for r in rows]

    def pending_deletions(self) -> list[str]:
        """Deleted ids a shared lexical index may still hold."""
        rows = self._all("SELECT DISTINCT doc_id FROM deletions WHERE index_pending")
        return [r["doc_id"] for r in rows]

    def mark_deletions_indexed(self, ids: Sequence[str]) -> None:
        with self.write() as conn:
            conn.execute(
                "UPDATE deletions SET index_pending = FALSE WHERE doc_id = ANY(%s)", (list(ids),)
            )

    def languages(self) -> list[tuple[str, int]]:
        """Document languages with their counts, largest first."""
        rows = self._all(
            "SELECT lang, COUNT(*) AS n FROM documents GROUP BY lang"
            ' ORDER BY n DESC, lang COLLATE "C"'
        )
        return [(r["lang"], int(r["n"])) for r in rows]

    def put_summary(self, summary: Summary) -> None:
        """Store a summary, replacing the same summarizer's in that language and its error."""
        with self.write() as conn:
            self._put_summary(conn, summary)
            conn.execute(
                "DELETE FROM summary_errors WHERE doc_id = %s AND summarizer = %s"
                " AND language = %s",
                (summary.doc_id, summary.summarizer, summary.language),
            )

    def put_summary_error(self, error: SummaryFailure) -> None:
        """Record why a summarizer failed on a document (its other summaries stay)."""
        with self.write() as conn:
            conn.execute(
                "INSERT INTO summary_errors (doc_id, summarizer, language, model,"
                " prompt_version, content_hash, error, created_at)"
                " VALUES (%s, %s, %s, %s, %s, %s, %s, %s)"
                " ON CONFLICT (doc_id, summarizer, language) DO UPDATE SET"
                " model = excluded.model, prompt_version = excluded.prompt_version,"
                " content_hash = excluded.content_hash, error = excluded.error,"
                " created_at = excluded.created_at",
                (
                    error.doc_id,
                    error.summarizer,
                    error.language,
                    error.model,
                    error.prompt_version,
                    error.content_hash,
                    clean_text(error.error),
                    error.created_at or _now(),
                ),
            )

    @staticmethod
    def _put_summary(conn: Conn, summary: Summary) -> None:
        conn.execute(
            "INSERT INTO summaries (doc_id, summarizer, language, model, prompt_version,"
            " content_hash, payload, created_at) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)"
            " ON CONFLICT (doc_id, summarizer, language) DO UPDATE SET"
            " model = excluded.model, prompt_version = excluded.prompt_version,"
            " content_hash = excluded.content_hash, payload = excluded.payload,"
            " created_at = excluded.created_at",
            (
                summary.doc_id,
                summary.summarizer,
                summary.language,
                summary.model,
                summary.prompt_version,
                summary.content_hash,
                clean_text(json.dumps(summary.to_json(), ensure_ascii=False)),
                _now(),
            ),
        )

    def set_index_state(self, name: str, rev: int, params: dict[str, Any]) -> None:
        with self.write() as conn:
            conn.execute(
                "INSERT INTO index_state (name, rev, params) VALUES (%s, %s, %s)"
                " ON CONFLICT (name) DO UPDATE SET rev = excluded.rev, params = excluded.params",
                (name, rev, json.dumps(params, sort_keys=True)),
            )

    def advance_index_state(self, name: str, rev: int, params: dict[str, Any]) -> bool:
        with self.write() as conn:
            moved = conn.execute(
                "UPDATE index_state SET rev = %s WHERE name = %s AND params = %s AND rev < %s",
                (rev, name, json.dumps(params, sort_keys=True), rev),
            ).rowcount
        return moved == 1

    def put_embeddings(
        self, name: str, rows: Sequence[tuple[str, int, bytes]], rev: int, params: dict[str, Any]
    ) -> None:
        """Store (doc id, doc rev, vector) rows and move index ``name`` forward to ``rev``."""
        with self.write() as conn:
            with conn.cursor() as cur:
                cur.executemany(
                    "INSERT INTO embeddings (doc_id, rev, vector) VALUES (%s, %s, %s)"
                    " ON CONFLICT (doc_id) DO UPDATE SET rev = excluded.rev,"
                    " vector = excluded.vector",
                    list(rows),
                )
            conn.execute(
                "INSERT INTO index_state (name, rev, params) VALUES (%s, %s, %s)"
                " ON CONFLICT (name) DO UPDATE SET rev = GREATEST(index_state.rev, excluded.rev),"
                " params = excluded.params",
                (name, rev, json.dumps(params, sort_keys=True)),
            )

    def clear_embeddings(self, name: str, params: dict[str, Any]) -> None:
        with self.write() as conn:
            conn.execute("DELETE FROM embeddings")
            conn.execute(
                "INSERT INTO index_state (name, rev, params) VALUES (%s, 0, %s)"
                " ON CONFLICT (name) DO UPDATE SET rev = 0, params = excluded.params",
                (name, json.dumps(params, sort_keys=True)),
            )

    # -- reads -------------------------------------------------------------------------
    def _one(self, sql: str, params: Sequence[Any] = ()) -> Any:
        rows = self._all(sql, params)
        return None if not rows else next(iter(rows[0].values()))

    def _all(self, sql: str, params: Sequence[Any] = ()) -> list[DictRow]:
        """Run a read; outside a transaction a connection that broke is retried once."""
        try:
            with self.session() as conn:
                return conn.execute(sql, params).fetchall()
        except StoreUnavailable as exc:
            if getattr(self._local, "tx", None) is not None or isinstance(
                exc.__cause__, PoolTimeout
            ):
                raise
        with self.session() as conn:
            return conn.execute(sql, params).fetchall()

    def paragraph_texts(self, ids: Sequence[str]) -> dict[str, list[str]]:
        """Paragraph texts of each document, in order."""
        out: dict[str, list[str]] = {}
        if not ids:
            return out
        for row in self._all(
            "SELECT doc_id, text FROM paragraphs WHERE doc_id = ANY(%s) ORDER BY doc_id, n",
            (list(ids),),
        ):
            out.setdefault(row["doc_id"], []).append(row["text"])
        return out

    def ids_after(self, after: str, limit: int) -> list[str]:
        """Document ids in id order after ``after``, for walking the whole store."""
        rows = self._all(
            'SELECT id FROM documents WHERE id COLLATE "C" > %s ORDER BY id COLLATE "C" LIMIT %s',
            (after, limit),
        )
        return [r["id"] for r in rows]

    def count_embedded(self, after_rev: int = 0) -> int:
        """Documents changed after ``after_rev`` whose stored vector was made from their
        present revision (all of them with the default)."""
        return int(
            self._one(
                "SELECT COUNT(*) FROM documents d JOIN embeddings e ON e.doc_id = d.id"
                " AND e.rev = d.rev WHERE d.rev > %s",
                (after_rev,),
            )
        )

    def embedding_rows(self, after_rev: int, limit: int = 5000) -> list[VectorRow]:
        """Current vectors made after ``after_rev``, oldest first, with document fields."""
        rows = self._all(
            "SELECT e.doc_id, e.rev, e.vector, d.published_ts, d.lang, d.source, d.category"
            " FROM embeddings e JOIN documents d ON d.id = e.doc_id AND d.rev = e.rev"
            " WHERE e.rev > %s ORDER BY e.rev LIMIT %s",
            (after_rev, limit),
        )
        return [_vector_row(r) for r in rows]

    def current_embeddings(self, ids: Sequence[str]) -> dict[str, VectorRow]:
        if not ids:
            return {}
        rows = self._all(
            "SELECT e.doc_id, e.rev, e.vector, d.published_ts, d.lang, d.source, d.category"
            " FROM embeddings e JOIN documents d ON d.id = e.doc_id AND d.rev = e.rev"
            " WHERE e.doc_id = ANY(%s)",
            (list(ids),),
        )
        return {r["doc_id"]: _vector_row(r) for r in rows}

    def index_state(self, name: str) -> tuple[int, dict[str, Any]] | None:
        rows = self._all("SELECT rev, params FROM index_state WHERE name = %s", (name,))
        if not rows:
            return None
        return int(rows[0]["rev"]), json.loads(rows[0]["params"])

    def content_hash_of(self, doc_id: str) -> str | None:
        found = self._one("SELECT content_hash FROM documents WHERE id = %s", (doc_id,))
        return str(found) if found is not None else None

    def content_hashes(self, ids: Sequence[str]) -> dict[str, str]:
        """Content hash per stored document id (ids not stored are left out)."""
        if not ids:
            return {}
        rows = self._all(
            "SELECT id, content_hash FROM documents WHERE id = ANY(%s)", (list(set(ids)),)
        )
        return {r["id"]: r["content_hash"] for r in rows}

    def max_rev(self) -> int:
        return int(self._one("SELECT COALESCE(MAX(rev), 0) FROM documents"))

    def count_documents(self, max_rev: int | None = None) -> int:
        if max_rev is None:
            return int(self._one("SELECT COUNT(*) FROM documents"))
        return int(self._one("SELECT COUNT(*) FROM documents WHERE rev <= %s", (max_rev,)))

    def count_summarized(self, summarizer: str) -> int:
        return int(
            self._one(
                "SELECT COUNT(DISTINCT s.doc_id) FROM summaries s JOIN documents d"
                " ON d.id = s.doc_id AND d.content_hash = s.content_hash"
                " WHERE s.summarizer = %s",
                (summarizer,),
            )
        )

    def count_stories(self) -> int:
        return int(self._one("SELECT COUNT(DISTINCT story_id) FROM documents"))

    def sources(self, limit: int = 200) -> list[tuple[str, int]]:
        """Sources with their document counts, largest first."""
        rows = self._all(
            "SELECT source, COUNT(*) AS n FROM documents WHERE source <> ''"
            ' GROUP BY source ORDER BY n DESC, source COLLATE "C" LIMIT %s',
            (limit,),
        )
        return [(r["source"], int(r["n"])) for r in rows]

    def rows_since(self, rev: int, limit: int = 1000) -> list[IndexRow]:
        """Documents changed after ``rev``, oldest change first, for index catch-up."""
        docs = self._all(
            "SELECT d.id, d.rev, d.title, d.lang, d.source, d.category, d.published_ts,"
            f" d.story_id, {_PARAGRAPHS} FROM documents d WHERE d.rev > %s ORDER BY d.rev"
            " LIMIT %s",
            (rev, limit),
        )
        return [
            IndexRow(
                id=d["id"],
                rev=int(d["rev"]),
                title=d["title"],
                body="\n".join(d["texts"]),
                lang=d["lang"],
                source=d["source"],
                category=d["category"],
                published_ts=d["published_ts"],
                story=d["story_id"],
            )
            for d in docs
        ]

    def get_documents(self, ids: Sequence[str]) -> dict[str, Document]:
        """Documents by id (missing ids are absent from the result), in one round trip."""
        if not ids:
            return {}
        rows = self._all(
            f"SELECT {_DOC_COLUMNS}, {_PARAGRAPHS} FROM documents d WHERE d.id = ANY(%s)",
            (list(ids),),
        )
        return {r["id"]: _row_to_document(r, r["texts"]) for r in rows}

    def get_document(self, doc_id: str) -> Document | None:
        return self.get_documents([doc_id]).get(doc_id)

    def newest_ids(self, limit: int, offset: int = 0) -> list[str]:
        rows = self._all(
            "SELECT id FROM documents WHERE id = story_id"
            ' ORDER BY published_ts IS NULL, published_ts DESC, id COLLATE "C"'
            " LIMIT %s OFFSET %s",
            (limit, offset),
        )
        return [r["id"] for r in rows]

    def story_of(self, ids: Sequence[str]) -> dict[str, str]:
        """Story id per document id."""
        return {doc_id: story for doc_id, (story, _) in self.stories_and_times(ids).items()}

    def stories_and_times(self, ids: Sequence[str]) -> dict[str, tuple[str, datetime | None]]:
        """Story id and publish time per document: all ranking needs, without the text."""
        if not ids:
            return {}
        rows = self._all(
            "SELECT id, story_id, published_at FROM documents WHERE id = ANY(%s)", (list(ids),)
        )
        return {r["id"]: (r["story_id"], _parse_time(r["published_at"])) for r in rows}

    def story_members(self, story_ids: Sequence[str]) -> dict[str, list[DuplicateRef]]:
        """All documents of each story, earliest first."""
        out: dict[str, list[DuplicateRef]] = {}
        if not story_ids:
            return out
        for row in self._all(
            "SELECT id, story_id, source, url, published_at, lang, title FROM documents"
            " WHERE story_id = ANY(%s)"
            ' ORDER BY published_ts IS NULL, published_ts, id COLLATE "C"',
            (list(story_ids),),
        ):
            out.setdefault(row["story_id"], []).append(
                DuplicateRef(
                    id=row["id"],
                    source=row["source"],
                    url=row["url"],
                    published_at=_parse_time(row["published_at"]),
                    lang=row["lang"],
                    title=row["title"],
                )
            )
        return out

    def band_neighbours(
        self, band_keys: Sequence[Sequence[int]]
    ) -> dict[tuple[int, int], list[tuple[str, str, bytes, int | None]]]:
        """(doc id, story id, minhash, published_ts) per (band, key), by doc id."""
        pairs = sorted({(band, key) for keys in band_keys for band, key in enumerate(keys)})
        out: dict[tuple[int, int], list[tuple[str, str, bytes, int | None]]] = {}
        if not pairs:
            return out
        rows = self._all(
            "SELECT b.band, b.key, d.id, d.story_id, d.minhash, d.published_ts"
            " FROM unnest(%s::integer[], %s::bigint[]) AS q(band, key)"
            " JOIN lsh_bands b ON b.band = q.band AND b.key = q.key"
            " JOIN documents d ON d.id = b.doc_id",
            ([band for band, _ in pairs], [key for _, key in pairs]),
        )
        for r in rows:
            blob = bytes(r["minhash"]) if r["minhash"] is not None else b""
            out.setdefault((r["band"], r["key"]), []).append(
                (r["id"], r["story_id"], blob, r["published_ts"])
            )
        for found in out.values():
            found.sort(key=lambda row: row[0])
        return out

    def merge_stories(self, a: str, b: str, evidence: str = "") -> str | None:
        """Put the stories of documents ``a`` and ``b`` under one story id, and record
        the link; returns that story id (None if either document is gone).

        The story whose representative was published first keeps its id (undated
        last, then by id), as when a deletion elects an heir. Idempotent. Held under
        the document-writes lock, so it never races the grouping of a new document.
        """
        with self.write(lock=True) as conn:
            rows = {
                r["id"]: r
                for r in conn.execute(
                    "SELECT d.id, d.story_id, s.published_ts FROM documents d"
                    " LEFT JOIN documents s ON s.id = d.story_id WHERE d.id = ANY(%s)",
                    ([a, b],),
                ).fetchall()
            }
            if a not in rows or b not in rows:
                return None
            first, second = sorted((a, b))
            conn.execute(
                "INSERT INTO story_links (doc_a, doc_b, evidence, linked_at)"
                " VALUES (%s, %s, %s, %s) ON CONFLICT DO NOTHING",
                (first, second, evidence, _now()),
            )
            ra, rb = rows[a], rows[b]
            if ra["story_id"] == rb["story_id"]:
                return str(ra["story_id"])
            keep, drop = sorted(
                (ra, rb),
                key=lambda r: (r["published_ts"] is None, r["published_ts"] or 0, r["story_id"]),
            )
            conn.execute(
                "UPDATE documents SET story_id = %s WHERE story_id = %s",
                (keep["story_id"], drop["story_id"]),
            )
            return str(keep["story_id"])

    def story_links(self, ids: Sequence[str]) -> list[tuple[str, str, str]]:
        """Recorded links (doc a, doc b, evidence) that involve any of ``ids``."""
        if not ids:
            return []
        rows = self._all(
            "SELECT doc_a, doc_b, evidence FROM story_links"
            " WHERE doc_a = ANY(%s) OR doc_b = ANY(%s)",
            (list(ids), list(ids)),
        )
        return sorted({(r["doc_a"], r["doc_b"], r["evidence"]) for r in rows})

    def story_candidates(
        self, bands: Sequence[int], exclude: str
    ) -> list[tuple[str, str, bytes, int | None]]:
        """(doc id, story id, minhash, published_ts) of documents sharing a band key."""
        if not bands:
            return []
        rows = self._all(
            "SELECT DISTINCT d.id, d.story_id, d.minhash, d.published_ts"
            " FROM unnest(%s::integer[], %s::bigint[]) AS q(band, key)"
            " JOIN lsh_bands b ON b.band = q.band AND b.key = q.key"
            " JOIN documents d ON d.id = b.doc_id WHERE d.id <> %s",
            (list(range(len(bands))), list(bands), exclude),
        )
        return [
            (
                r["id"],
                r["story_id"],
                bytes(r["minhash"]) if r["minhash"] is not None else b"",
                r["published_ts"],
            )
            for r in rows
        ]

    def all_ids(self) -> list[str]:
        """Every document id, oldest ingest first."""
        return [r["id"] for r in self._all("SELECT id FROM documents ORDER BY rev")]

    def get_summary(
        self, doc_id: str, summarizer: str, language: str, model: str, prompt_version: str
    ) -> Summary | None:
        """The cached summary for exactly this content, summarizer, model, prompt and language."""
        payload = self._one(
            "SELECT s.payload FROM summaries s JOIN documents d ON d.id = s.doc_id"
            " AND d.content_hash = s.content_hash WHERE s.doc_id = %s AND s.summarizer = %s"
            " AND s.language = %s AND s.model = %s AND s.prompt_version = %s",
            (doc_id, summarizer, language, model, prompt_version),
        )
        return Summary.from_json(doc_id, json.loads(payload)) if payload else None

    def summary_errors(self, doc_id: str) -> list[SummaryFailure]:
        """Failures recorded for the document's present content, newest first."""
        rows = self._all(
            "SELECT e.* FROM summary_errors e JOIN documents d ON d.id = e.doc_id"
            " AND d.content_hash = e.content_hash WHERE e.doc_id = %s"
            " ORDER BY e.created_at DESC",
            (doc_id,),
        )
        return [
            SummaryFailure(
                doc_id=r["doc_id"],
                summarizer=r["summarizer"],
                language=r["language"],
                model=r["model"],
                prompt_version=r["prompt_version"],
                content_hash=r["content_hash"],
                error=r["error"],
                created_at=r["created_at"],
            )
            for r in rows
        ]

    def get_summaries(
        self, ids: Sequence[str], summarizer: str, language: str | None = None
    ) -> dict[str, Summary]:
        """Current summaries (made from the document's present content) by document id.

        With ``language`` None, any language the summarizer produced is acceptable.
        """
        if not ids:
            return {}
        params: tuple[Any, ...] = (list(ids), summarizer)
        lang_clause = ""
        if language is not None:
            lang_clause = " AND s.language = %s"
            params = (*params, language)
        rows = self._all(
            "SELECT s.doc_id, s.payload FROM summaries s JOIN documents d ON d.id = s.doc_id"
            " AND d.content_hash = s.content_hash WHERE s.doc_id = ANY(%s)"
            f" AND s.summarizer = %s{lang_clause} ORDER BY s.language",
            params,
        )
        return {r["doc_id"]: Summary.from_json(r["doc_id"], json.loads(r["payload"])) for r in rows}


def _vector_row(r: DictRow) -> VectorRow:
    return VectorRow(
        id=r["doc_id"],
        rev=int(r["rev"]),
        vector=bytes(r["vector"]),
        published_ts=r["published_ts"],
        lang=r["lang"],
        source=r["source"],
        category=r["category"],
    )


def _parse_time(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def _row_to_document(row: DictRow, paragraphs: list[str]) -> Document:
    return Document(
        id=row["id"],
        title=row["title"],
        paragraphs=tuple(Paragraph(n=i, text=t) for i, t in enumerate(paragraphs, start=1)),
        source=row["source"],
        url=row["url"],
        published_at=_parse_time(row["published_at"]),
        lang=row["lang"],
        category=row["category"],
        content_hash=row["content_hash"],
        story_id=row["story_id"],
    )
