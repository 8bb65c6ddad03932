"""The feeds a home follows, kept in the same SQLite file as the documents.

Each feed remembers what the server last said about it (``ETag``,
``Last-Modified``) so the next poll can be a conditional request, when it was
polled and when it last succeeded, and its error state: the last error and how many
polls in a row have failed (reset by a success), which the poller uses to back off.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from newsdesk.store.sqlite import SQLiteStore


@dataclass(frozen=True, slots=True)
class FeedInfo:
    url: str
    title: str = ""
    kind: str = ""
    etag: str = ""
    last_modified: str = ""
    added_at: str = ""
    last_polled: str | None = None
    last_ok: str | None = None
    last_status: str = ""
    items_seen: int = 0
    accepted: int = 0
    error_count: int = 0
    last_error: str = ""

    def to_json(self) -> dict[str, Any]:
        return {
            "url": self.url,
            "title": self.title,
            "kind": self.kind,
            "etag": self.etag,
            "last_modified": self.last_modified,
            "added_at": self.added_at,
            "last_polled": self.last_polled,
            "last_ok": self.last_ok,
            "last_status": self.last_status,
            "items_seen": self.items_seen,
            "accepted": self.accepted,
            "error_count": self.error_count,
            "last_error": self.last_error,
        }


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="seconds")


def _row(row: sqlite3.Row) -> FeedInfo:
    return FeedInfo(**{k: row[k] for k in row.keys()})  # noqa: SIM118 (sqlite3.Row)


class FeedStore:
    """Feed rows of one :class:`SQLiteStore`."""

    def __init__(self, store: SQLiteStore) -> None:
        self.store = store

    def add(self, url: str, now: datetime) -> bool:
        """Follow ``url``; False if it was already followed."""
        with self.store.transaction() as conn:
            cur = conn.execute(
                "INSERT OR IGNORE INTO feeds (url, added_at) VALUES (?, ?)", (url, _iso(now))
            )
            return cur.rowcount == 1

    def remove(self, url: str) -> bool:
        with self.store.transaction() as conn:
            return conn.execute("DELETE FROM feeds WHERE url = ?", (url,)).rowcount == 1

    def get(self, url: str) -> FeedInfo | None:
        row = (
            self.store.connection().execute("SELECT * FROM feeds WHERE url = ?", (url,)).fetchone()
        )
        return _row(row) if row is not None else None

    def all(self) -> list[FeedInfo]:
        rows = self.store.connection().execute("SELECT * FROM feeds ORDER BY rowid")
        return [_row(r) for r in rows]

    def record_success(
        self,
        url: str,
        now: datetime,
        *,
        status: str,
        title: str = "",
        kind: str = "",
        etag: str = "",
        last_modified: str = "",
        items: int = 0,
        accepted: int = 0,
    ) -> None:
        """A poll that reached the feed: ``status`` is ``ok`` or ``not_modified``."""
        with self.store.transaction() as conn:
            if status == "not_modified":
                conn.execute(
                    "UPDATE feeds SET last_polled=?, last_ok=?, last_status=?, error_count=0,"
                    " last_error='' WHERE url=?",
                    (_iso(now), _iso(now), status, url),
                )
                return
            conn.execute(
                "UPDATE feeds SET title=CASE WHEN ?='' THEN title ELSE ? END, kind=?, etag=?,"
                " last_modified=?, last_polled=?, last_ok=?, last_status=?,"
                " items_seen=items_seen+?, accepted=accepted+?, error_count=0, last_error=''"
                " WHERE url=?",
                (
                    title,
                    title,
                    kind,
                    etag,
                    last_modified,
                    _iso(now),
                    _iso(now),
                    status,
                    items,
                    accepted,
                    url,
                ),
            )

    def record_error(self, url: str, now: datetime, error: str) -> None:
        with self.store.transaction() as conn:
            conn.execute(
                "UPDATE feeds SET last_polled=?, last_status='error', error_count=error_count+1,"
                " last_error=? WHERE url=?",
                (_iso(now), error[:500], url),
            )
