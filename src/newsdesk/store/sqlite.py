"""SQLite (WAL) document store: the embedded default.

One file holds documents, numbered paragraphs, summaries, near-duplicate band keys
and the watermark of each derived index (feeds and jobs live in the same file, see
:mod:`newsdesk.store.sqlite_work`). Each document is written in a single transaction
together with its paragraphs, band keys and summary, so a crash never leaves half a
document. Connections are per thread; SQLite serializes writers (``BEGIN
IMMEDIATE``), which gives the store contract's ordered revisions for free.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from newsdesk.errors import StoreError
from newsdesk.models import Document, DuplicateRef, Paragraph, Summary
from newsdesk.store import Deletion, IndexRow, StoredOutcome, SummaryFailure, VectorRow
from newsdesk.store.migrations import MIGRATIONS

_IN_CHUNK = 500


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _chunks(items: Sequence[str]) -> Iterator[Sequence[str]]:
    for i in range(0, len(items), _IN_CHUNK):
        yield items[i : i + _IN_CHUNK]


class SQLiteStore:
    """The document store of one newsdesk home."""

    kind = "sqlite"
    # One machine: the home's indexes share this file's watermarks.
    shared = False

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self._local = threading.local()
        self._migrate()

    def describe(self) -> str:
        return str(self.path)

    @contextmanager
    def try_lock(self, name: str) -> Iterator[bool]:
        """A lock file beside the database, held with ``flock`` (released if we die)."""
        safe = re.sub(r"[^A-Za-z0-9_.-]", "_", name)
        fd = os.open(f"{self.path}.{safe}.lock", os.O_RDWR | os.O_CREAT, 0o644)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                yield False
                return
            try:
                yield True
            finally:
                fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)

    # -- connections -------------------------------------------------------------------
    def _conn(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            try:
                conn = sqlite3.connect(self.path, timeout=30.0, isolation_level=None)
                conn.execute("PRAGMA journal_mode=WAL")
                conn.execute("PRAGMA synchronous=NORMAL")
                conn.execute("PRAGMA foreign_keys=ON")
                # 64 MiB page cache (default 2 MiB): the band-key and paragraph B-trees of
                # a large home are written all over during ingest (10k stories: +4%).
                conn.execute("PRAGMA cache_size=-65536")
            except sqlite3.Error as exc:
                raise StoreError(f"cannot open {self.path}: {exc}") from exc
            conn.row_factory = sqlite3.Row
            self._local.conn = conn
        return conn

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        conn = self._conn()
        if conn.in_transaction:
            # Nested in a caller's batch transaction: that one commits or rolls back.
            yield conn
            return
        try:
            conn.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as exc:
            raise StoreError(f"cannot start a write on {self.path}: {exc}") from exc
        self._local.bands = []
        try:
            yield conn
            self._flush_bands(conn)
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        else:
            conn.execute("COMMIT")
        finally:
            self._local.bands = []

    def _buffered_bands(self) -> list[tuple[str, Sequence[int]]]:
        """Band keys of the documents put in this thread's open transaction, not yet
        written: (doc id, keys), in the order put (a later put of an id wins)."""
        buffered: list[tuple[str, Sequence[int]]] | None = getattr(self._local, "bands", None)
        if buffered is None:
            buffered = self._local.bands = []
        return buffered

    def _flush_bands(self, conn: sqlite3.Connection) -> None:
        """Write the transaction's band keys at once, sorted by (band, key): inserted in
        the B-tree's order they cost a third of one ``executemany`` per document."""
        buffered = self._buffered_bands()
        if not buffered:
            return
        last = {doc_id: keys for doc_id, keys in buffered}
        rows = sorted(
            (band, key, doc_id) for doc_id, keys in last.items() for band, key in enumerate(keys)
        )
        conn.executemany(
            "INSERT OR IGNORE INTO lsh_bands (band, key, doc_id) VALUES (?, ?, ?)", rows
        )
        buffered.clear()

    def _buffered_matches(
        self, conn: sqlite3.Connection, wanted: set[tuple[int, int]]
    ) -> dict[tuple[int, int], list[tuple[str, str, bytes, int | None]]]:
        """Documents of the open transaction whose buffered band keys are ``wanted``."""
        hits: dict[tuple[int, int], set[str]] = {}
        for doc_id, keys in self._buffered_bands():
            for band, key in enumerate(keys):
                if (band, key) in wanted:
                    hits.setdefault((band, key), set()).add(doc_id)
        if not hits:
            return {}
        ids = sorted({d for found in hits.values() for d in found})
        rows = {
            r["id"]: (r["id"], r["story_id"], r["minhash"], r["published_ts"])
            for r in conn.execute(
                "SELECT id, story_id, minhash, published_ts FROM documents"
                f" WHERE id IN ({','.join('?' * len(ids))})",
                ids,
            )
        }
        return {bk: [rows[d] for d in sorted(found) if d in rows] for bk, found in hits.items()}

    @contextmanager
    def savepoint(self) -> Iterator[sqlite3.Connection]:
        """Writes that succeed or fail together inside the caller's transaction.

        A failure rolls back only these writes (the batch goes on) and is raised as
        :class:`StoreError` when SQLite refused the data.
        """
        conn = self._conn()
        if not conn.in_transaction:
            with self._write() as own:
                try:
                    yield own
                except (sqlite3.Error, UnicodeError) as exc:
                    raise StoreError(f"the store refused the document: {exc}") from exc
            return
        conn.execute("SAVEPOINT one_document")
        buffered = self._buffered_bands()
        mark = len(buffered)
        try:
            yield conn
        except BaseException as exc:
            conn.execute("ROLLBACK TO one_document")
            conn.execute("RELEASE one_document")
            del buffered[mark:]
            if isinstance(exc, (sqlite3.Error, UnicodeError)):
                raise StoreError(f"the store refused the document: {exc}") from exc
            raise
        else:
            conn.execute("RELEASE one_document")

    def connection(self) -> sqlite3.Connection:
        """This thread's connection, for companion tables in the same file (feeds)."""
        return self._conn()

    def transaction(self) -> contextlib.AbstractContextManager[sqlite3.Connection]:
        """A write transaction (``BEGIN IMMEDIATE`` ... ``COMMIT``, rolled back on error)."""
        return self._write()

    def close(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None

    def _migrate(self) -> None:
        conn = self._conn()
        try:
            version = conn.execute("PRAGMA user_version").fetchone()[0]
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"{self.path} is not a newsdesk database: {exc}") from exc
        if version > len(MIGRATIONS):
            raise StoreError(
                f"{self.path} has schema {version}, newer than this newsdesk "
                f"({len(MIGRATIONS)}); upgrade newsdesk"
            )
        for number in range(version + 1, len(MIGRATIONS) + 1):
            # executescript commits implicitly, so the version bump rides inside the script.
            script = MIGRATIONS[number - 1]
            conn.executescript(f"BEGIN;\n{script}\nPRAGMA user_version={number};\nCOMMIT;")

    @property
    def schema_version(self) -> int:
        return int(self._conn().execute("PRAGMA user_version").fetchone()[0])

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
        with self._write() as conn:
            # One query for the checks and the next revision.
            found = conn.execute(
                "SELECT (SELECT content_hash FROM documents WHERE id = :id) AS own,"
                " (SELECT id FROM documents WHERE content_hash = :hash AND id != :id"
                " LIMIT 1) AS same_content,"
                # "url != ''" lets SQLite use the partial index on url (without it every
                # insert scanned the whole table).
                " (SELECT id FROM documents WHERE url = :url AND url != '' AND id != :id"
                " LIMIT 1) AS same_url,"
                " EXISTS (SELECT 1 FROM deletions WHERE doc_id = :id AND index_pending = 1)"
                " AS pending_delete,"
                " MAX((SELECT COALESCE(MAX(rev), 0) FROM documents),"
                " (SELECT COALESCE(MAX(rev), 0) FROM deletions)) + 1 AS rev",
                {"id": doc.id, "hash": doc.content_hash, "url": doc.url},
            ).fetchone()
            existing = found["own"]
            if existing == doc.content_hash:
                return StoredOutcome("unchanged", doc.id)
            dup = found["same_content"] or (found["same_url"] if doc.url else None)
            if dup is not None:
                return StoredOutcome("duplicate", doc.id, duplicate_of=dup)
            rev = found["rev"]
            published = doc.published_at
            values = (
                rev,
                doc.url,
                doc.title,
                doc.source,
                published.isoformat() if published else None,
                int(published.timestamp()) if published else None,
                doc.lang,
                doc.category,
                doc.content_hash,
                doc.story_id or doc.id,
                minhash,
                origin,
                _now(),
                doc.id,
            )
            if existing is None:
                if found["pending_delete"]:
                    # A document deleted before and ingested again: its new revision is
                    # indexed afresh, so an index deletion still pending must not remove it.
                    conn.execute(
                        "UPDATE deletions SET index_pending = 0"
                        " WHERE doc_id = ? AND index_pending = 1",
                        (doc.id,),
                    )
                conn.execute(
                    "INSERT INTO documents (rev, url, title, source, published_at, published_ts,"
                    " lang, category, content_hash, story_id, minhash, origin, ingested_at, id)"
                    " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                    values,
                )
            else:
                conn.execute(
                    "UPDATE documents SET rev=?, url=?, title=?, source=?, published_at=?,"
                    " published_ts=?, lang=?, category=?, content_hash=?, story_id=?, minhash=?,"
                    " origin=?, ingested_at=? WHERE id=?",
                    values,
                )
                conn.execute("DELETE FROM paragraphs WHERE doc_id = ?", (doc.id,))
                conn.execute("DELETE FROM lsh_bands WHERE doc_id = ?", (doc.id,))
                conn.execute("DELETE FROM summaries WHERE doc_id = ?", (doc.id,))
                conn.execute("DELETE FROM summary_errors WHERE doc_id = ?", (doc.id,))
            conn.executemany(
                "INSERT INTO paragraphs (doc_id, n, text) VALUES (?, ?, ?)",
                [(doc.id, p.n, p.text) for p in doc.paragraphs],
            )
            # Written with the transaction's others, at its commit (see _flush_bands).
            self._buffered_bands().append((doc.id, tuple(bands)))
            if summary is not None:
                self._put_summary(conn, summary)
            return StoredOutcome("accepted" if existing is None else "updated", doc.id)

    def delete_documents(self, ids: Sequence[str], now: str = "") -> list[Deletion]:
        """Delete documents with everything that hangs off them, and record each.

        Paragraphs, summaries, summary errors, band keys and vectors go with the
        document (foreign keys cascade). A story that loses its representative is
        renamed after its earliest remaining member. Unknown ids are ignored.
        """
        out: list[Deletion] = []
        when = now or _now()
        with self._write() as conn:
            for doc_id in dict.fromkeys(ids):
                row = conn.execute(
                    "SELECT rev, title, url, content_hash, story_id FROM documents WHERE id = ?",
                    (doc_id,),
                ).fetchone()
                if row is None:
                    continue
                cur = conn.execute(
                    "INSERT INTO deletions (doc_id, rev, title, url, content_hash, deleted_at)"
                    " VALUES (?, ?, ?, ?, ?, ?)",
                    (doc_id, row["rev"], row["title"], row["url"], row["content_hash"], when),
                )
                conn.execute("DELETE FROM documents WHERE id = ?", (doc_id,))
                buffered = self._buffered_bands()
                if buffered:  # put earlier in this transaction: its keys go with it
                    buffered[:] = [entry for entry in buffered if entry[0] != doc_id]
                if row["story_id"] == doc_id:
                    heir = conn.execute(
                        "SELECT id FROM documents WHERE story_id = ?"
                        " ORDER BY published_ts IS NULL, published_ts, id LIMIT 1",
                        (doc_id,),
                    ).fetchone()
                    if heir is not None:
                        conn.execute(
                            "UPDATE documents SET story_id = ? WHERE story_id = ?",
                            (heir["id"], doc_id),
                        )
                out.append(
                    Deletion(int(cur.lastrowid or 0), doc_id, row["title"], row["url"], when)
                )
        return out

    def deletions(self, limit: int = 1000) -> list[Deletion]:
        """Recorded deletions, newest first."""
        rows = self._conn().execute(
            "SELECT seq, doc_id, title, url, deleted_at FROM deletions ORDER BY seq DESC LIMIT ?",
            (limit,),
        )
        return [
            Deletion(int(r["seq"]), r["doc_id"], r["title"], r["url"], r["deleted_at"])
            for r in rows
        ]

    def count_deletions(self) -> int:
        return int(self._conn().execute("SELECT COUNT(*) FROM deletions").fetchone()[0])

    def deletion_seq(self) -> int:
        """The sequence number of the latest deletion (0 when none)."""
        return int(
            self._conn().execute("SELECT COALESCE(MAX(seq), 0) FROM deletions").fetchone()[0]
        )

    def deleted_since(self, seq: int) -> list[str]:
        """Ids deleted after deletion ``seq`` and not stored again since."""
        rows = self._conn().execute(
            "SELECT DISTINCT x.doc_id FROM deletions x LEFT JOIN documents d ON d.id = x.doc_id"
            " WHERE x.seq > ? AND d.id IS NULL",
            (seq,),
        )
        return [r["doc_id"] for r in rows]

    def pending_deletions(self) -> list[str]:
        """Deleted ids the lexical index may still hold."""
        rows = self._conn().execute("SELECT DISTINCT doc_id FROM deletions WHERE index_pending = 1")
        return [r["doc_id"] for r in rows]

    def mark_deletions_indexed(self, ids: Sequence[str]) -> None:
        with self._write() as conn:
            conn.executemany(
                "UPDATE deletions SET index_pending = 0 WHERE doc_id = ?", [(i,) for i in ids]
            )

    def replace_signatures(self, rows: Sequence[tuple[str, bytes, Sequence[int]]]) -> None:
        """Store new near-duplicate signatures and band keys (doc id, minhash, bands)."""
        with self._write() as conn:
            for doc_id, minhash, bands in rows:
                conn.execute("UPDATE documents SET minhash = ? WHERE id = ?", (minhash, doc_id))
                conn.execute("DELETE FROM lsh_bands WHERE doc_id = ?", (doc_id,))
                conn.executemany(
                    "INSERT OR IGNORE INTO lsh_bands (band, key, doc_id) VALUES (?, ?, ?)",
                    [(band, key, doc_id) for band, key in enumerate(bands)],
                )

    def paragraph_texts(self, ids: Sequence[str]) -> dict[str, list[str]]:
        """Paragraph texts of each document, in order."""
        return self._paragraph_texts(ids)

    def ids_after(self, after: str, limit: int) -> list[str]:
        """Document ids in id order after ``after``, for walking the whole store."""
        rows = self._conn().execute(
            "SELECT id FROM documents WHERE id > ? ORDER BY id LIMIT ?", (after, limit)
        )
        return [r["id"] for r in rows]

    def put_summary(self, summary: Summary) -> None:
        """Store a summary, replacing the same summarizer's in that language and its error."""
        with self._write() as conn:
            self._put_summary(conn, summary)
            conn.execute(
                "DELETE FROM summary_errors WHERE doc_id = ? AND summarizer = ? AND language = ?",
                (summary.doc_id, summary.summarizer, summary.language),
            )

    def put_summary_error(self, error: SummaryFailure) -> None:
        """Record why a summarizer failed on a document (its other summaries stay)."""
        with self._write() as conn:
            conn.execute(
                "INSERT OR REPLACE INTO summary_errors (doc_id, summarizer, language, model,"
                " prompt_version, content_hash, error, created_at) VALUES (?,?,?,?,?,?,?,?)",
                (
                    error.doc_id,
                    error.summarizer,
                    error.language,
                    error.model,
                    error.prompt_version,
                    error.content_hash,
                    error.error,
                    error.created_at or _now(),
                ),
            )

    @staticmethod
    def _put_summary(conn: sqlite3.Connection, summary: Summary) -> None:
        conn.execute(
            "INSERT OR REPLACE INTO summaries (doc_id, summarizer, language, model,"
            " prompt_version, content_hash, payload, created_at) VALUES (?,?,?,?,?,?,?,?)",
            (
                summary.doc_id,
                summary.summarizer,
                summary.language,
                summary.model,
                summary.prompt_version,
                summary.content_hash,
                json.dumps(summary.to_json(), ensure_ascii=False),
                _now(),
            ),
        )

    def set_index_state(self, name: str, rev: int, params: dict[str, Any]) -> None:
        with self._write() as conn:
            conn.execute(
                "INSERT OR REPLACE INTO index_state (name, rev, params) VALUES (?, ?, ?)",
                (name, rev, json.dumps(params, sort_keys=True)),
            )

    def advance_index_state(self, name: str, rev: int, params: dict[str, Any]) -> bool:
        with self._write() as conn:
            moved = conn.execute(
                "UPDATE index_state SET rev = ? WHERE name = ? AND params = ? AND rev < ?",
                (rev, name, json.dumps(params, sort_keys=True), rev),
            ).rowcount
        return moved == 1

    def put_embeddings(
        self, name: str, rows: Sequence[tuple[str, int, bytes]], rev: int, params: dict[str, Any]
    ) -> None:
        """Store (doc id, doc rev, vector) rows and move index ``name`` to ``rev``, atomically.

        The watermark only moves forward: a slower embedder finishing late never
        takes it back over documents another one embedded.
        """
        with self._write() as conn:
            conn.executemany(
                "INSERT OR REPLACE INTO embeddings (doc_id, rev, vector) VALUES (?, ?, ?)", rows
            )
            conn.execute(
                "INSERT INTO index_state (name, rev, params) VALUES (?, ?, ?)"
                " ON CONFLICT (name) DO UPDATE SET rev = MAX(rev, excluded.rev),"
                " params = excluded.params",
                (name, rev, json.dumps(params, sort_keys=True)),
            )

    def clear_embeddings(self, name: str, params: dict[str, Any]) -> None:
        with self._write() as conn:
            conn.execute("DELETE FROM embeddings")
            conn.execute(
                "INSERT OR REPLACE INTO index_state (name, rev, params) VALUES (?, ?, ?)",
                (name, 0, json.dumps(params, sort_keys=True)),
            )

    # -- reads -------------------------------------------------------------------------
    def count_embedded(self, after_rev: int = 0) -> int:
        """Documents changed after ``after_rev`` whose stored vector was made from their
        present revision (all of them with the default)."""
        return int(
            self._conn()
            .execute(
                "SELECT COUNT(*) FROM documents d JOIN embeddings e ON e.doc_id = d.id"
                " AND e.rev = d.rev WHERE d.rev > ?",
                (after_rev,),
            )
            .fetchone()[0]
        )

    def embedding_rows(self, after_rev: int, limit: int = 5000) -> list[VectorRow]:
        """Current vectors made after ``after_rev``, oldest first, with document fields."""
        rows = self._conn().execute(
            "SELECT e.doc_id, e.rev, e.vector, d.published_ts, d.lang, d.source, d.category"
            " FROM embeddings e JOIN documents d ON d.id = e.doc_id AND d.rev = e.rev"
            " WHERE e.rev > ? ORDER BY e.rev LIMIT ?",
            (after_rev, limit),
        )
        return [
            VectorRow(
                id=r["doc_id"],
                rev=int(r["rev"]),
                vector=r["vector"],
                published_ts=r["published_ts"],
                lang=r["lang"],
                source=r["source"],
                category=r["category"],
            )
            for r in rows
        ]

    def current_embeddings(self, ids: Sequence[str]) -> dict[str, VectorRow]:
        """The vectors of ``ids`` made from their present revision (others left out)."""
        out: dict[str, VectorRow] = {}
        conn = self._conn()
        for chunk in _chunks(ids):
            marks = ",".join("?" * len(chunk))
            for r in conn.execute(
                "SELECT e.doc_id, e.rev, e.vector, d.published_ts, d.lang, d.source, d.category"
                " FROM embeddings e JOIN documents d ON d.id = e.doc_id AND d.rev = e.rev"
                f" WHERE e.doc_id IN ({marks})",
                tuple(chunk),
            ):
                out[r["doc_id"]] = VectorRow(
                    id=r["doc_id"],
                    rev=int(r["rev"]),
                    vector=r["vector"],
                    published_ts=r["published_ts"],
                    lang=r["lang"],
                    source=r["source"],
                    category=r["category"],
                )
        return out

    def index_state(self, name: str) -> tuple[int, dict[str, Any]] | None:
        row = (
            self._conn()
            .execute("SELECT rev, params FROM index_state WHERE name = ?", (name,))
            .fetchone()
        )
        if row is None:
            return None
        return int(row["rev"]), json.loads(row["params"])

    def content_hash_of(self, doc_id: str) -> str | None:
        row = (
            self._conn()
            .execute("SELECT content_hash FROM documents WHERE id = ?", (doc_id,))
            .fetchone()
        )
        return str(row[0]) if row is not None else None

    def content_hashes(self, ids: Sequence[str]) -> dict[str, str]:
        """Content hash per stored document id (ids not stored are left out)."""
        out: dict[str, str] = {}
        conn = self._conn()
        for chunk in _chunks(list(dict.fromkeys(ids))):
            rows = conn.execute(
                "SELECT id, content_hash FROM documents"
                f" WHERE id IN ({','.join('?' * len(chunk))})",
                tuple(chunk),
            )
            out.update((r[0], r[1]) for r in rows)
        return out

    def max_rev(self) -> int:
        return int(
            self._conn().execute("SELECT COALESCE(MAX(rev), 0) FROM documents").fetchone()[0]
        )

    def count_documents(self, max_rev: int | None = None) -> int:
        if max_rev is None:
            return int(self._conn().execute("SELECT COUNT(*) FROM documents").fetchone()[0])
        return int(
            self._conn()
            .execute("SELECT COUNT(*) FROM documents WHERE rev <= ?", (max_rev,))
            .fetchone()[0]
        )

    def count_summarized(self, summarizer: str) -> int:
        return int(
            self._conn()
            .execute(
                "SELECT COUNT(DISTINCT s.doc_id) FROM summaries s JOIN documents d"
                " ON d.id = s.doc_id AND d.content_hash = s.content_hash WHERE s.summarizer = ?",
                (summarizer,),
            )
            .fetchone()[0]
        )

    def count_stories(self) -> int:
        return int(
            self._conn().execute("SELECT COUNT(DISTINCT story_id) FROM documents").fetchone()[0]
        )

    def sources(self, limit: int = 200) -> list[tuple[str, int]]:
        """Sources with their document counts, largest first."""
        rows = self._conn().execute(
            "SELECT source, COUNT(*) AS n FROM documents WHERE source != ''"
            " GROUP BY source ORDER BY n DESC, source LIMIT ?",
            (limit,),
        )
        return [(r["source"], int(r["n"])) for r in rows]

    def languages(self) -> list[tuple[str, int]]:
        """Document languages with their counts, largest first."""
        rows = self._conn().execute(
            "SELECT lang, COUNT(*) AS n FROM documents GROUP BY lang ORDER BY n DESC, lang"
        )
        return [(r["lang"], int(r["n"])) for r in rows]

    def rows_since(self, rev: int, limit: int = 1000) -> list[IndexRow]:
        """Documents changed after ``rev``, oldest change first, for index catch-up."""
        conn = self._conn()
        docs = conn.execute(
            "SELECT id, rev, title, lang, source, category, published_ts, story_id"
            " FROM documents WHERE rev > ? ORDER BY rev LIMIT ?",
            (rev, limit),
        ).fetchall()
        bodies = self._paragraph_texts([d["id"] for d in docs])
        return [
            IndexRow(
                id=d["id"],
                rev=int(d["rev"]),
                title=d["title"],
                body="\n".join(bodies.get(d["id"], [])),
                lang=d["lang"],
                source=d["source"],
                category=d["category"],
                published_ts=d["published_ts"],
                story=d["story_id"],
            )
            for d in docs
        ]

    def _paragraph_texts(self, ids: Sequence[str]) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {}
        conn = self._conn()
        for chunk in _chunks(ids):
            marks = ",".join("?" * len(chunk))
            for row in conn.execute(
                f"SELECT doc_id, text FROM paragraphs WHERE doc_id IN ({marks}) ORDER BY doc_id, n",
                tuple(chunk),
            ):
                out.setdefault(row["doc_id"], []).append(row["text"])
        return out

    def get_documents(self, ids: Sequence[str]) -> dict[str, Document]:
        """Documents by id (missing ids are absent from the result)."""
        conn = self._conn()
        rows: list[sqlite3.Row] = []
        for chunk in _chunks(ids):
            marks = ",".join("?" * len(chunk))
            rows.extend(
                conn.execute(f"SELECT * FROM documents WHERE id IN ({marks})", tuple(chunk))
            )
        texts = self._paragraph_texts([r["id"] for r in rows])
        return {r["id"]: _row_to_document(r, texts.get(r["id"], [])) for r in rows}

    def get_document(self, doc_id: str) -> Document | None:
        return self.get_documents([doc_id]).get(doc_id)

    def newest_ids(self, limit: int, offset: int = 0) -> list[str]:
        rows = self._conn().execute(
            "SELECT id FROM documents WHERE id = story_id"
            " ORDER BY published_ts IS NULL, published_ts DESC, id LIMIT ? OFFSET ?",
            (limit, offset),
        )
        return [r["id"] for r in rows]

    def story_of(self, ids: Sequence[str]) -> dict[str, str]:
        """Story id per document id."""
        return {doc_id: story for doc_id, (story, _) in self.stories_and_times(ids).items()}

    def stories_and_times(self, ids: Sequence[str]) -> dict[str, tuple[str, datetime | None]]:
        """Story id and publish time per document: all ranking needs, without the text."""
        out: dict[str, tuple[str, datetime | None]] = {}
        conn = self._conn()
        for chunk in _chunks(ids):
            marks = ",".join("?" * len(chunk))
            for row in conn.execute(
                f"SELECT id, story_id, published_at FROM documents WHERE id IN ({marks})",
                tuple(chunk),
            ):
                out[row["id"]] = (row["story_id"], _parse_time(row["published_at"]))
        return out

    def story_members(self, story_ids: Sequence[str]) -> dict[str, list[DuplicateRef]]:
        """All documents of each story, earliest first."""
        out: dict[str, list[DuplicateRef]] = {}
        conn = self._conn()
        for chunk in _chunks(story_ids):
            marks = ",".join("?" * len(chunk))
            for row in conn.execute(
                "SELECT id, story_id, source, url, published_at, lang, title FROM documents"
                f" WHERE story_id IN ({marks}) ORDER BY published_ts IS NULL, published_ts, id",
                tuple(chunk),
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

    def merge_stories(self, a: str, b: str, evidence: str = "") -> str | None:
        """Put the stories of documents ``a`` and ``b`` under one story id, and record
        the link; returns that story id (None if either document is gone).

        The story whose representative was published first keeps its id (undated
        last, then by id), as when a deletion elects an heir. Idempotent: a second
        call finds them in one story and changes nothing.
        """
        with self._write() as conn:
            rows = {
                r["id"]: r
                for r in conn.execute(
                    "SELECT d.id, d.story_id, s.published_ts FROM documents d"
                    " LEFT JOIN documents s ON s.id = d.story_id WHERE d.id IN (?, ?)",
                    (a, b),
                )
            }
            if a not in rows or b not in rows:
                return None
            conn.execute(
                "INSERT OR IGNORE INTO story_links (doc_a, doc_b, evidence, linked_at)"
                " VALUES (?, ?, ?, ?)",
                (*sorted((a, b)), evidence, _now()),
            )
            ra, rb = rows[a], rows[b]
            if ra["story_id"] == rb["story_id"]:
                return str(ra["story_id"])
            keep, drop = sorted(
                (ra, rb),
                key=lambda r: (r["published_ts"] is None, r["published_ts"] or 0, r["story_id"]),
            )
            conn.execute(
                "UPDATE documents SET story_id = ? WHERE story_id = ?",
                (keep["story_id"], drop["story_id"]),
            )
            return str(keep["story_id"])

    def story_links(self, ids: Sequence[str]) -> list[tuple[str, str, str]]:
        """Recorded links (doc a, doc b, evidence) that involve any of ``ids``."""
        out: list[tuple[str, str, str]] = []
        conn = self._conn()
        for chunk in _chunks(ids):
            marks = ",".join("?" * len(chunk))
            out.extend(
                (r["doc_a"], r["doc_b"], r["evidence"])
                for r in conn.execute(
                    "SELECT doc_a, doc_b, evidence FROM story_links"
                    f" WHERE doc_a IN ({marks}) OR doc_b IN ({marks})",
                    (*chunk, *chunk),
                )
            )
        return sorted(set(out))

    def story_candidates(
        self, bands: Sequence[int], exclude: str
    ) -> list[tuple[str, str, bytes, int | None]]:
        """(doc id, story id, minhash, published_ts) of documents sharing a band key."""
        if not bands:
            return []
        clauses = " OR ".join("(b.band = ? AND b.key = ?)" for _ in bands)
        params: list[Any] = []
        for band, key in enumerate(bands):
            params.extend((band, key))
        params.append(exclude)
        conn = self._conn()
        rows = conn.execute(
            "SELECT DISTINCT d.id, d.story_id, d.minhash, d.published_ts FROM lsh_bands b"
            f" JOIN documents d ON d.id = b.doc_id WHERE ({clauses}) AND d.id != ?",
            params,
        )
        found = {r["id"]: (r["id"], r["story_id"], r["minhash"], r["published_ts"]) for r in rows}
        pending = self._buffered_matches(conn, set(enumerate(bands)))
        for matches in pending.values():
            for row in matches:
                if row[0] != exclude:
                    found.setdefault(row[0], row)
        return list(found.values())

    def band_neighbours(
        self, band_keys: Sequence[Sequence[int]]
    ) -> dict[tuple[int, int], list[tuple[str, str, bytes, int | None]]]:
        """(doc id, story id, minhash, published_ts) per (band, key), by doc id."""
        wanted: dict[int, set[int]] = {}
        for keys in band_keys:
            for band, key in enumerate(keys):
                wanted.setdefault(band, set()).add(key)
        out: dict[tuple[int, int], list[tuple[str, str, bytes, int | None]]] = {}
        conn = self._conn()
        for band, band_set in sorted(wanted.items()):
            ordered = sorted(band_set)
            for i in range(0, len(ordered), _IN_CHUNK):
                chunk = ordered[i : i + _IN_CHUNK]
                rows = conn.execute(
                    "SELECT b.key, d.id, d.story_id, d.minhash, d.published_ts FROM lsh_bands b"
                    " JOIN documents d ON d.id = b.doc_id"
                    f" WHERE b.band = ? AND b.key IN ({','.join('?' * len(chunk))})",
                    (band, *chunk),
                )
                for r in rows:
                    out.setdefault((band, r[0]), []).append((r[1], r[2], r[3], r[4]))
        pending = (
            self._buffered_matches(
                conn, {(band, key) for band, keys in wanted.items() for key in keys}
            )
            if self._buffered_bands()  # empty at a batch's start, where this is asked
            else {}
        )
        for band_key, matches in pending.items():
            have = {row[0] for row in out.get(band_key, [])}
            out.setdefault(band_key, []).extend(m for m in matches if m[0] not in have)
        for found in out.values():
            found.sort(key=lambda row: row[0])
        return out

    def all_ids(self) -> list[str]:
        """Every document id, oldest ingest first."""
        return [r["id"] for r in self._conn().execute("SELECT id FROM documents ORDER BY rev")]

    def get_summary(
        self, doc_id: str, summarizer: str, language: str, model: str, prompt_version: str
    ) -> Summary | None:
        """The cached summary for exactly this content, summarizer, model, prompt and language."""
        row = (
            self._conn()
            .execute(
                "SELECT s.payload FROM summaries s JOIN documents d ON d.id = s.doc_id"
                " AND d.content_hash = s.content_hash WHERE s.doc_id = ? AND s.summarizer = ?"
                " AND s.language = ? AND s.model = ? AND s.prompt_version = ?",
                (doc_id, summarizer, language, model, prompt_version),
            )
            .fetchone()
        )
        return Summary.from_json(doc_id, json.loads(row["payload"])) if row else None

    def summary_errors(self, doc_id: str) -> list[SummaryFailure]:
        """Failures recorded for the document's present content, newest first."""
        rows = self._conn().execute(
            "SELECT e.* FROM summary_errors e JOIN documents d ON d.id = e.doc_id"
            " AND d.content_hash = e.content_hash WHERE e.doc_id = ? ORDER BY e.created_at DESC",
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
        out: dict[str, Summary] = {}
        conn = self._conn()
        lang_clause = "" if language is None else " AND s.language = ?"
        for chunk in _chunks(ids):
            marks = ",".join("?" * len(chunk))
            params: tuple[Any, ...] = (*chunk, summarizer)
            if language is not None:
                params = (*params, language)
            rows = conn.execute(
                "SELECT s.doc_id, s.payload FROM summaries s JOIN documents d ON d.id = s.doc_id"
                f" AND d.content_hash = s.content_hash WHERE s.doc_id IN ({marks})"
                f" AND s.summarizer = ?{lang_clause}",
                params,
            )
            for row in rows:
                out[row["doc_id"]] = Summary.from_json(row["doc_id"], json.loads(row["payload"]))
        return out


def _parse_time(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def _row_to_document(row: sqlite3.Row, paragraphs: list[str]) -> Document:
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
