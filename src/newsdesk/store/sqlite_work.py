"""Feeds and the work queue in the SQLite file: for one machine.

Each feed remembers what the server last said about it (``ETag``,
``Last-Modified``) so the next poll can be a conditional request, when it was
polled and when it last succeeded, and its error state: the last error and how many
polls in a row have failed (reset by a success), which the poller uses to back off.

Workers (``newsdesk worker``) claim due feeds and queued jobs with a lease that
expires: SQLite serializes the claiming transactions (``BEGIN IMMEDIATE``), so
several worker processes on one machine never hold the same item. Times are the
store's own clock (UTC, ISO 8601 with milliseconds, so text order is time order).
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from newsdesk.store import (
    FeedInfo,
    InputFailure,
    Job,
    JobKind,
    JobState,
    Lease,
    QueueStats,
    WorkerInfo,
)
from newsdesk.store.sqlite import SQLiteStore

# The newest per-input failures kept (older ones are dropped as new ones come).
KEEP_FAILURES = 10_000
GAVE_UP = "gave up after {n} attempt(s): each worker that claimed it stopped before finishing"


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="seconds")


def _stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds")


def _clock() -> datetime:
    return datetime.now(UTC)


def _age(now: datetime, stamp: str | None) -> float | None:
    if not stamp:
        return None
    return max(0.0, (now - datetime.fromisoformat(stamp)).total_seconds())


def _feed(row: sqlite3.Row) -> FeedInfo:
    return FeedInfo(**{k: row[k] for k in row.keys()})  # noqa: SIM118 (sqlite3.Row)


def _job(row: sqlite3.Row) -> Job:
    return Job(
        id=int(row["id"]),
        kind=row["kind"],
        target=row["target"],
        state=row["state"],
        attempts=int(row["attempts"]),
        max_attempts=int(row["max_attempts"]),
        created_at=row["created_at"],
        not_before=row["not_before"],
        started_at=row["started_at"],
        finished_at=row["finished_at"],
        lease_owner=row["lease_owner"],
        lease_expires=row["lease_expires"],
        counts=json.loads(row["counts"] or "{}"),
        error=row["error"],
    )


class SQLiteFeeds:
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
        return _feed(row) if row is not None else None

    def all(self) -> list[FeedInfo]:
        rows = self.store.connection().execute("SELECT * FROM feeds ORDER BY rowid")
        return [_feed(r) for r in rows]

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

    # -- leases for workers ------------------------------------------------------------
    def claim_due(self, owner: str, lease: timedelta, limit: int = 1) -> list[FeedInfo]:
        now = _clock()
        stamp = _stamp(now)
        with self.store.transaction() as conn:
            urls = [
                r["url"]
                for r in conn.execute(
                    "SELECT url FROM feeds WHERE (next_poll_at IS NULL OR next_poll_at <= ?)"
                    " AND (lease_expires IS NULL OR lease_expires < ?)"
                    " ORDER BY next_poll_at IS NOT NULL, next_poll_at, rowid LIMIT ?",
                    (stamp, stamp, limit),
                )
            ]
            for url in urls:
                conn.execute(
                    "UPDATE feeds SET lease_owner = ?, lease_expires = ? WHERE url = ?",
                    (owner, _stamp(now + lease), url),
                )
            marks = ",".join("?" * len(urls))
            rows = conn.execute(f"SELECT * FROM feeds WHERE url IN ({marks})", urls).fetchall()
        by_url = {r["url"]: _feed(r) for r in rows}
        return [by_url[u] for u in urls if u in by_url]

    def try_lease(self, url: str, owner: str, lease: timedelta) -> bool:
        now = _clock()
        with self.store.transaction() as conn:
            return (
                conn.execute(
                    "UPDATE feeds SET lease_owner = ?, lease_expires = ? WHERE url = ?"
                    " AND (lease_expires IS NULL OR lease_expires < ? OR lease_owner = ?)",
                    (owner, _stamp(now + lease), url, _stamp(now), owner),
                ).rowcount
                == 1
            )

    def release(self, url: str, owner: str, next_poll_in: timedelta | None) -> None:
        with self.store.transaction() as conn:
            if next_poll_in is None:
                conn.execute(
                    "UPDATE feeds SET lease_owner = '', lease_expires = NULL"
                    " WHERE url = ? AND lease_owner = ?",
                    (url, owner),
                )
                return
            conn.execute(
                "UPDATE feeds SET lease_owner = '', lease_expires = NULL, next_poll_at = ?"
                " WHERE url = ? AND lease_owner = ?",
                (_stamp(_clock() + next_poll_in), url, owner),
            )

    def renew(self, owner: str, lease: timedelta) -> int:
        with self.store.transaction() as conn:
            return conn.execute(
                "UPDATE feeds SET lease_expires = ? WHERE lease_owner = ?",
                (_stamp(_clock() + lease), owner),
            ).rowcount


class SQLiteJobs:
    """The job queue, the workers and the per-input failures in one SQLite file."""

    def __init__(self, store: SQLiteStore) -> None:
        self.store = store

    def _conn(self) -> sqlite3.Connection:
        return self.store.connection()

    def enqueue(self, kind: JobKind, target: str, max_attempts: int = 5) -> tuple[Job, bool]:
        now = _stamp(_clock())
        with self.store.transaction() as conn:
            cur = conn.execute(
                "INSERT OR IGNORE INTO jobs (kind, target, max_attempts, created_at, not_before)"
                " VALUES (?, ?, ?, ?, ?)",
                (kind, target, max_attempts, now, now),
            )
            row = conn.execute(
                "SELECT * FROM jobs WHERE kind = ? AND target = ? AND state IN"
                " ('queued', 'running') ORDER BY id DESC LIMIT 1",
                (kind, target),
            ).fetchone()
        return _job(row), cur.rowcount == 1

    def claim(self, owner: str, lease: timedelta) -> Job | None:
        now = _clock()
        stamp = _stamp(now)
        with self.store.transaction() as conn:
            # A job whose every holder died (a poison input that kills workers) stops here.
            for row in conn.execute(
                "SELECT id, attempts FROM jobs WHERE state = 'running' AND lease_expires < ?"
                " AND attempts >= max_attempts",
                (stamp,),
            ).fetchall():
                conn.execute(
                    "UPDATE jobs SET state = 'failed', finished_at = ?, lease_owner = '',"
                    " lease_expires = NULL, error = ? WHERE id = ?",
                    (stamp, GAVE_UP.format(n=row["attempts"]), row["id"]),
                )
            row = conn.execute(
                "SELECT id FROM jobs WHERE (state = 'queued' AND not_before <= ?)"
                " OR (state = 'running' AND lease_expires < ?) ORDER BY not_before, id LIMIT 1",
                (stamp, stamp),
            ).fetchone()
            if row is None:
                return None
            conn.execute(
                "UPDATE jobs SET state = 'running', attempts = attempts + 1, lease_owner = ?,"
                " lease_expires = ?, started_at = ? WHERE id = ?",
                (owner, _stamp(now + lease), stamp, row["id"]),
            )
            claimed = conn.execute("SELECT * FROM jobs WHERE id = ?", (row["id"],)).fetchone()
        return _job(claimed)

    def renew(self, owner: str, lease: timedelta) -> int:
        with self.store.transaction() as conn:
            return conn.execute(
                "UPDATE jobs SET lease_expires = ? WHERE state = 'running' AND lease_owner = ?",
                (_stamp(_clock() + lease), owner),
            ).rowcount

    def finish(self, job_id: int, owner: str, counts: dict[str, int]) -> bool:
        with self.store.transaction() as conn:
            return (
                conn.execute(
                    "UPDATE jobs SET state = 'done', finished_at = ?, lease_owner = '',"
                    " lease_expires = NULL, counts = ?, error = '' WHERE id = ?"
                    " AND state = 'running' AND lease_owner = ?",
                    (_stamp(_clock()), json.dumps(counts, sort_keys=True), job_id, owner),
                ).rowcount
                == 1
            )

    def fail(self, job_id: int, owner: str, error: str, retry_in: timedelta | None) -> bool:
        now = _clock()
        with self.store.transaction() as conn:
            if retry_in is not None:
                cur = conn.execute(
                    "UPDATE jobs SET state = 'queued', not_before = ?, lease_owner = '',"
                    " lease_expires = NULL, error = ? WHERE id = ? AND state = 'running'"
                    " AND lease_owner = ? AND attempts < max_attempts",
                    (_stamp(now + retry_in), error[:2000], job_id, owner),
                )
                if cur.rowcount == 1:
                    return True
            return (
                conn.execute(
                    "UPDATE jobs SET state = 'failed', finished_at = ?, lease_owner = '',"
                    " lease_expires = NULL, error = ? WHERE id = ? AND state = 'running'"
                    " AND lease_owner = ?",
                    (_stamp(now), error[:2000], job_id, owner),
                ).rowcount
                == 1
            )

    def release(self, job_id: int, owner: str) -> bool:
        with self.store.transaction() as conn:
            return (
                conn.execute(
                    "UPDATE jobs SET state = 'queued', not_before = ?, lease_owner = '',"
                    " lease_expires = NULL, attempts = MAX(attempts - 1, 0) WHERE id = ?"
                    " AND state = 'running' AND lease_owner = ?",
                    (_stamp(_clock()), job_id, owner),
                ).rowcount
                == 1
            )

    def get(self, job_id: int) -> Job | None:
        row = self._conn().execute("SELECT * FROM jobs WHERE id = ?", (job_id,)).fetchone()
        return _job(row) if row is not None else None

    def list_jobs(self, state: JobState | None = None, limit: int = 100) -> list[Job]:
        if state is None:
            rows = self._conn().execute("SELECT * FROM jobs ORDER BY id DESC LIMIT ?", (limit,))
        else:
            rows = self._conn().execute(
                "SELECT * FROM jobs WHERE state = ? ORDER BY id DESC LIMIT ?", (state, limit)
            )
        return [_job(r) for r in rows]

    def stats(self) -> QueueStats:
        conn = self._conn()
        now = _clock()
        stamp = _stamp(now)
        counts = {
            r["state"]: int(r["n"])
            for r in conn.execute("SELECT state, COUNT(*) AS n FROM jobs GROUP BY state")
        }
        oldest_job = conn.execute(
            "SELECT MIN(not_before) FROM jobs WHERE state = 'queued' AND not_before <= ?",
            (stamp,),
        ).fetchone()[0]
        feeds = conn.execute(
            "SELECT COUNT(*) AS n, MIN(COALESCE(next_poll_at, added_at)) AS oldest FROM feeds"
            " WHERE (next_poll_at IS NULL OR next_poll_at <= ?)"
            " AND (lease_expires IS NULL OR lease_expires < ?)",
            (stamp, stamp),
        ).fetchone()
        total_feeds = conn.execute("SELECT COUNT(*) FROM feeds").fetchone()[0]
        return QueueStats(
            jobs={s: counts.get(s, 0) for s in ("queued", "running", "done", "failed")},
            feeds=int(total_feeds),
            feeds_due=int(feeds["n"]),
            oldest_due_job_age=_age(now, oldest_job),
            oldest_due_feed_age=_age(now, feeds["oldest"]),
        )

    def leases(self) -> list[Lease]:
        now = _clock()
        conn = self._conn()
        rows: list[tuple[str, str, str, str]] = [
            ("job", f"{r['id']}: {r['target']}", r["lease_owner"], r["lease_expires"])
            for r in conn.execute(
                "SELECT id, target, lease_owner, lease_expires FROM jobs"
                " WHERE state = 'running' ORDER BY lease_expires"
            )
        ]
        rows += [
            ("feed", r["url"], r["lease_owner"], r["lease_expires"])
            for r in conn.execute(
                "SELECT url, lease_owner, lease_expires FROM feeds WHERE lease_owner != ''"
                " ORDER BY lease_expires"
            )
        ]
        return [
            Lease(kind, target, owner, expires or "", _left(now, expires))
            for kind, target, owner, expires in rows
        ]

    # -- workers -------------------------------------------------------------------------
    def register_worker(self, worker_id: str, host: str, pid: int) -> None:
        now = _stamp(_clock())
        with self.store.transaction() as conn:
            conn.execute(
                "INSERT OR REPLACE INTO workers (id, host, pid, started_at, heartbeat_at, state)"
                " VALUES (?, ?, ?, ?, ?, 'running')",
                (worker_id, host, pid, now, now),
            )

    def heartbeat(
        self, worker_id: str, *, current: str = "", done: dict[str, int] | None = None
    ) -> None:
        d = done or {}
        with self.store.transaction() as conn:
            conn.execute(
                "UPDATE workers SET heartbeat_at = ?, current = ?, jobs_done = jobs_done + ?,"
                " feeds_polled = feeds_polled + ?, documents = documents + ?,"
                " errors = errors + ? WHERE id = ?",
                (
                    _stamp(_clock()),
                    current[:500],
                    d.get("jobs", 0),
                    d.get("feeds", 0),
                    d.get("documents", 0),
                    d.get("errors", 0),
                    worker_id,
                ),
            )

    def stop_worker(self, worker_id: str) -> None:
        with self.store.transaction() as conn:
            conn.execute(
                "UPDATE workers SET state = 'stopped', current = '', heartbeat_at = ? WHERE id = ?",
                (_stamp(_clock()), worker_id),
            )

    def workers(self, include_stopped: bool = False) -> list[WorkerInfo]:
        now = _clock()
        where = "" if include_stopped else " WHERE state = 'running'"
        rows = self._conn().execute(f"SELECT * FROM workers{where} ORDER BY started_at, id")
        return [_worker(r, now) for r in rows]

    # -- failures ------------------------------------------------------------------------
    def record_failures(self, failures: Sequence[InputFailure]) -> None:
        if not failures:
            return
        now = _stamp(_clock())
        with self.store.transaction() as conn:
            conn.executemany(
                "INSERT INTO input_failures (source, origin, outcome, reason, at)"
                " VALUES (?, ?, ?, ?, ?)",
                [(f.source, f.origin, f.outcome, f.reason[:2000], f.at or now) for f in failures],
            )
            conn.execute(
                "DELETE FROM input_failures WHERE id <= (SELECT MAX(id) FROM input_failures) - ?",
                (KEEP_FAILURES,),
            )

    def failures(self, limit: int = 100) -> list[InputFailure]:
        rows = self._conn().execute(
            "SELECT source, origin, outcome, reason, at FROM input_failures"
            " ORDER BY id DESC LIMIT ?",
            (limit,),
        )
        return [InputFailure(**{k: r[k] for k in r.keys()}) for r in rows]  # noqa: SIM118


def _left(now: datetime, stamp: str | None) -> float:
    if not stamp:
        return 0.0
    return (datetime.fromisoformat(stamp) - now).total_seconds()


def _worker(row: sqlite3.Row, now: datetime) -> WorkerInfo:
    values: dict[str, Any] = {k: row[k] for k in row.keys()}  # noqa: SIM118 (sqlite3.Row)
    return WorkerInfo(**values, heartbeat_age=_age(now, row["heartbeat_at"]) or 0.0)
