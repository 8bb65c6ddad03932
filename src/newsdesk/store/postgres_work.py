"""Feeds and the work queue on PostgreSQL: claimed by workers on any number of machines.

A worker claims with ``FOR UPDATE SKIP LOCKED`` inside one ``UPDATE``: the rows
another worker is claiming at that moment are skipped, never waited for or taken
twice. A claim is a lease (owner and expiry on the server's clock, which all
machines share): the holder renews it while it works; when a worker dies its leases
run out and the rows are due again for the others.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from psycopg.rows import DictRow

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
from newsdesk.store.postgres import PostgresStore, clean_text
from newsdesk.store.sqlite_work import GAVE_UP, KEEP_FAILURES

_FEED_COLUMNS = (
    "url, title, kind, etag, last_modified, added_at, last_polled, last_ok, last_status,"
    " items_seen, accepted, error_count, last_error, next_poll_at, lease_owner, lease_expires"
)


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="seconds")


def _stamp(moment: datetime | None) -> str | None:
    return None if moment is None else moment.astimezone(UTC).isoformat(timespec="milliseconds")


def _feed(row: DictRow) -> FeedInfo:
    values: dict[str, Any] = dict(row)
    values["next_poll_at"] = _stamp(row["next_poll_at"])
    values["lease_expires"] = _stamp(row["lease_expires"])
    return FeedInfo(**values)


def _job(row: DictRow) -> Job:
    return Job(
        id=int(row["id"]),
        kind=row["kind"],
        target=row["target"],
        state=row["state"],
        attempts=int(row["attempts"]),
        max_attempts=int(row["max_attempts"]),
        created_at=_stamp(row["created_at"]) or "",
        not_before=_stamp(row["not_before"]),
        started_at=_stamp(row["started_at"]),
        finished_at=_stamp(row["finished_at"]),
        lease_owner=row["lease_owner"],
        lease_expires=_stamp(row["lease_expires"]),
        counts=json.loads(row["counts"] or "{}"),
        error=row["error"],
    )


class PostgresFeeds:
    """Feed rows of one :class:`PostgresStore`."""

    def __init__(self, store: PostgresStore) -> None:
        self.store = store

    def add(self, url: str, now: datetime) -> bool:
        """Follow ``url``; False if it was already followed."""
        with self.store.session() as conn:
            cur = conn.execute(
                "INSERT INTO feeds (url, added_at) VALUES (%s, %s) ON CONFLICT (url) DO NOTHING",
                (clean_text(url), _iso(now)),
            )
            return cur.rowcount == 1

    def remove(self, url: str) -> bool:
        with self.store.session() as conn:
            return conn.execute("DELETE FROM feeds WHERE url = %s", (url,)).rowcount == 1

    def get(self, url: str) -> FeedInfo | None:
        with self.store.session() as conn:
            row = conn.execute(
                f"SELECT {_FEED_COLUMNS} FROM feeds WHERE url = %s", (url,)
            ).fetchone()
        return _feed(row) if row is not None else None

    def all(self) -> list[FeedInfo]:
        with self.store.session() as conn:
            rows = conn.execute(f"SELECT {_FEED_COLUMNS} FROM feeds ORDER BY seq").fetchall()
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
        with self.store.session() as conn:
            if status == "not_modified":
                conn.execute(
                    "UPDATE feeds SET last_polled = %s, last_ok = %s, last_status = %s,"
                    " error_count = 0, last_error = '' WHERE url = %s",
                    (_iso(now), _iso(now), status, url),
                )
                return
            conn.execute(
                "UPDATE feeds SET title = CASE WHEN %s = '' THEN title ELSE %s END, kind = %s,"
                " etag = %s, last_modified = %s, last_polled = %s, last_ok = %s,"
                " last_status = %s, items_seen = items_seen + %s, accepted = accepted + %s,"
                " error_count = 0, last_error = '' WHERE url = %s",
                (
                    clean_text(title),
                    clean_text(title),
                    kind,
                    clean_text(etag),
                    clean_text(last_modified),
                    _iso(now),
                    _iso(now),
                    status,
                    items,
                    accepted,
                    url,
                ),
            )

    def record_error(self, url: str, now: datetime, error: str) -> None:
        with self.store.session() as conn:
            conn.execute(
                "UPDATE feeds SET last_polled = %s, last_status = 'error',"
                " error_count = error_count + 1, last_error = %s WHERE url = %s",
                (_iso(now), clean_text(error[:500]), url),
            )

    # -- leases for workers ------------------------------------------------------------
    def claim_due(self, owner: str, lease: timedelta, limit: int = 1) -> list[FeedInfo]:
        with self.store.session() as conn:
            rows = conn.execute(
                "UPDATE feeds SET lease_owner = %s, lease_expires = now() + %s"
                " WHERE url IN (SELECT url FROM feeds"
                " WHERE (next_poll_at IS NULL OR next_poll_at <= now())"
                " AND (lease_expires IS NULL OR lease_expires < now())"
                " ORDER BY next_poll_at NULLS FIRST, seq LIMIT %s FOR UPDATE SKIP LOCKED)"
                f" RETURNING seq, {_FEED_COLUMNS}",
                (owner, lease, limit),
            ).fetchall()
        rows.sort(key=lambda r: (r["next_poll_at"] is not None, r["next_poll_at"], r["seq"]))
        return [_feed({k: v for k, v in r.items() if k != "seq"}) for r in rows]

    def try_lease(self, url: str, owner: str, lease: timedelta) -> bool:
        with self.store.session() as conn:
            return (
                conn.execute(
                    "UPDATE feeds SET lease_owner = %s, lease_expires = now() + %s"
                    " WHERE url = %s AND (lease_expires IS NULL OR lease_expires < now()"
                    " OR lease_owner = %s)",
                    (owner, lease, url, owner),
                ).rowcount
                == 1
            )

    def release(self, url: str, owner: str, next_poll_in: timedelta | None) -> None:
        with self.store.session() as conn:
            if next_poll_in is None:
                conn.execute(
                    "UPDATE feeds SET lease_owner = '', lease_expires = NULL"
                    " WHERE url = %s AND lease_owner = %s",
                    (url, owner),
                )
                return
            conn.execute(
                "UPDATE feeds SET lease_owner = '', lease_expires = NULL,"
                " next_poll_at = now() + %s WHERE url = %s AND lease_owner = %s",
                (next_poll_in, url, owner),
            )

    def renew(self, owner: str, lease: timedelta) -> int:
        with self.store.session() as conn:
            return conn.execute(
                "UPDATE feeds SET lease_expires = now() + %s WHERE lease_owner = %s",
                (lease, owner),
            ).rowcount


class PostgresJobs:
    """The job queue, the workers and the per-input failures in PostgreSQL."""

    def __init__(self, store: PostgresStore) -> None:
        self.store = store

    def enqueue(self, kind: JobKind, target: str, max_attempts: int = 5) -> tuple[Job, bool]:
        with self.store.write() as conn:
            row = conn.execute(
                "INSERT INTO jobs (kind, target, max_attempts) VALUES (%s, %s, %s)"
                " ON CONFLICT (kind, target) WHERE state IN ('queued', 'running') DO NOTHING"
                " RETURNING *",
                (kind, clean_text(target), max_attempts),
            ).fetchone()
            if row is not None:
                return _job(row), True
            row = conn.execute(
                "SELECT * FROM jobs WHERE kind = %s AND target = %s"
                " AND state IN ('queued', 'running') ORDER BY id DESC LIMIT 1",
                (kind, clean_text(target)),
            ).fetchone()
        assert row is not None, "an open job blocked the insert, so it exists"
        return _job(row), False

    def claim(self, owner: str, lease: timedelta) -> Job | None:
        with self.store.session() as conn:
            # A job whose every holder died (a poison input that kills workers) stops here.
            conn.execute(
                "UPDATE jobs SET state = 'failed', finished_at = now(), lease_owner = '',"
                " lease_expires = NULL, error = replace(%s, '{n}', attempts::text)"
                " WHERE state = 'running' AND lease_expires < now()"
                " AND attempts >= max_attempts",
                (GAVE_UP,),
            )
            row = conn.execute(
                "UPDATE jobs SET state = 'running', attempts = attempts + 1, lease_owner = %s,"
                " lease_expires = now() + %s, started_at = now()"
                " WHERE id = (SELECT id FROM jobs"
                " WHERE (state = 'queued' AND not_before <= now())"
                " OR (state = 'running' AND lease_expires < now())"
                " ORDER BY not_before, id LIMIT 1 FOR UPDATE SKIP LOCKED)"
                " RETURNING *",
                (owner, lease),
            ).fetchone()
        return _job(row) if row is not None else None

    def renew(self, owner: str, lease: timedelta) -> int:
        with self.store.session() as conn:
            return conn.execute(
                "UPDATE jobs SET lease_expires = now() + %s WHERE state = 'running'"
                " AND lease_owner = %s",
                (lease, owner),
            ).rowcount

    def finish(self, job_id: int, owner: str, counts: dict[str, int]) -> bool:
        with self.store.session() as conn:
            return (
                conn.execute(
                    "UPDATE jobs SET state = 'done', finished_at = now(), lease_owner = '',"
                    " lease_expires = NULL, counts = %s, error = '' WHERE id = %s"
                    " AND state = 'running' AND lease_owner = %s",
                    (json.dumps(counts, sort_keys=True), job_id, owner),
                ).rowcount
                == 1
            )

    def fail(self, job_id: int, owner: str, error: str, retry_in: timedelta | None) -> bool:
        with self.store.write() as conn:
            if retry_in is not None:
                cur = conn.execute(
                    "UPDATE jobs SET state = 'queued', not_before = now() + %s,"
                    " lease_owner = '', lease_expires = NULL, error = %s WHERE id = %s"
                    " AND state = 'running' AND lease_owner = %s AND attempts < max_attempts",
                    (retry_in, clean_text(error[:2000]), job_id, owner),
                )
                if cur.rowcount == 1:
                    return True
            return (
                conn.execute(
                    "UPDATE jobs SET state = 'failed', finished_at = now(), lease_owner = '',"
                    " lease_expires = NULL, error = %s WHERE id = %s AND state = 'running'"
                    " AND lease_owner = %s",
                    (clean_text(error[:2000]), job_id, owner),
                ).rowcount
                == 1
            )

    def release(self, job_id: int, owner: str) -> bool:
        with self.store.session() as conn:
            return (
                conn.execute(
                    "UPDATE jobs SET state = 'queued', not_before = now(), lease_owner = '',"
                    " lease_expires = NULL, attempts = GREATEST(attempts - 1, 0) WHERE id = %s"
                    " AND state = 'running' AND lease_owner = %s",
                    (job_id, owner),
                ).rowcount
                == 1
            )

    def get(self, job_id: int) -> Job | None:
        with self.store.session() as conn:
            row = conn.execute("SELECT * FROM jobs WHERE id = %s", (job_id,)).fetchone()
        return _job(row) if row is not None else None

    def list_jobs(self, state: JobState | None = None, limit: int = 100) -> list[Job]:
        with self.store.session() as conn:
            if state is None:
                rows = conn.execute(
                    "SELECT * FROM jobs ORDER BY id DESC LIMIT %s", (limit,)
                ).fetchall()
            else:
                rows = conn.execute(
                    "SELECT * FROM jobs WHERE state = %s ORDER BY id DESC LIMIT %s",
                    (state, limit),
                ).fetchall()
        return [_job(r) for r in rows]

    def stats(self) -> QueueStats:
        with self.store.session() as conn:
            counts = {
                r["state"]: int(r["n"])
                for r in conn.execute("SELECT state, COUNT(*) AS n FROM jobs GROUP BY state")
            }
            job_age = conn.execute(
                "SELECT EXTRACT(EPOCH FROM now() - MIN(not_before)) AS age FROM jobs"
                " WHERE state = 'queued' AND not_before <= now()"
            ).fetchone()
            feeds = conn.execute(
                "SELECT COUNT(*) AS n, EXTRACT(EPOCH FROM now() - MIN(COALESCE(next_poll_at,"
                " added_at::timestamptz))) AS age FROM feeds"
                " WHERE (next_poll_at IS NULL OR next_poll_at <= now())"
                " AND (lease_expires IS NULL OR lease_expires < now())"
            ).fetchone()
            total = conn.execute("SELECT COUNT(*) AS n FROM feeds").fetchone()
        assert job_age is not None and feeds is not None and total is not None

        def age(value: Any) -> float | None:
            return None if value is None else max(0.0, float(value))

        return QueueStats(
            jobs={s: counts.get(s, 0) for s in ("queued", "running", "done", "failed")},
            feeds=int(total["n"]),
            feeds_due=int(feeds["n"]),
            oldest_due_job_age=age(job_age["age"]),
            oldest_due_feed_age=age(feeds["age"]),
        )

    def leases(self) -> list[Lease]:
        with self.store.session() as conn:
            rows = conn.execute(
                "SELECT 'job' AS kind, id::text || ': ' || target AS target, lease_owner,"
                " lease_expires, EXTRACT(EPOCH FROM lease_expires - now()) AS left_s"
                " FROM jobs WHERE state = 'running'"
                " UNION ALL SELECT 'feed', url, lease_owner, lease_expires,"
                " EXTRACT(EPOCH FROM lease_expires - now()) FROM feeds WHERE lease_owner <> ''"
                " ORDER BY lease_expires"
            ).fetchall()
        return [
            Lease(
                r["kind"],
                r["target"],
                r["lease_owner"],
                _stamp(r["lease_expires"]) or "",
                float(r["left_s"] or 0.0),
            )
            for r in rows
        ]

    # -- workers -------------------------------------------------------------------------
    def register_worker(self, worker_id: str, host: str, pid: int) -> None:
        with self.store.session() as conn:
            conn.execute(
                "INSERT INTO workers (id, host, pid) VALUES (%s, %s, %s)"
                " ON CONFLICT (id) DO UPDATE SET host = excluded.host, pid = excluded.pid,"
                " started_at = now(), heartbeat_at = now(), state = 'running'",
                (worker_id, clean_text(host), pid),
            )

    def heartbeat(
        self, worker_id: str, *, current: str = "", done: dict[str, int] | None = None
    ) -> None:
        d = done or {}
        with self.store.session() as conn:
            conn.execute(
                "UPDATE workers SET heartbeat_at = now(), current = %s,"
                " jobs_done = jobs_done + %s, feeds_polled = feeds_polled + %s,"
                " documents = documents + %s, errors = errors + %s WHERE id = %s",
                (
                    clean_text(current[:500]),
                    d.get("jobs", 0),
                    d.get("feeds", 0),
                    d.get("documents", 0),
                    d.get("errors", 0),
                    worker_id,
                ),
            )

    def stop_worker(self, worker_id: str) -> None:
        with self.store.session() as conn:
            conn.execute(
                "UPDATE workers SET state = 'stopped', current = '', heartbeat_at = now()"
                " WHERE id = %s",
                (worker_id,),
            )

    def workers(self, include_stopped: bool = False) -> list[WorkerInfo]:
        where = "" if include_stopped else " WHERE state = 'running'"
        with self.store.session() as conn:
            rows = conn.execute(
                "SELECT *, EXTRACT(EPOCH FROM now() - heartbeat_at) AS age FROM workers"
                f"{where} ORDER BY started_at, id"
            ).fetchall()
        return [
            WorkerInfo(
                id=r["id"],
                host=r["host"],
                pid=int(r["pid"]),
                started_at=_stamp(r["started_at"]) or "",
                heartbeat_at=_stamp(r["heartbeat_at"]) or "",
                state=r["state"],
                current=r["current"],
                jobs_done=int(r["jobs_done"]),
                feeds_polled=int(r["feeds_polled"]),
                documents=int(r["documents"]),
                errors=int(r["errors"]),
                heartbeat_age=max(0.0, float(r["age"] or 0.0)),
            )
            for r in rows
        ]

    # -- failures ------------------------------------------------------------------------
    def record_failures(self, failures: Sequence[InputFailure]) -> None:
        if not failures:
            return
        with self.store.write() as conn:
            with conn.cursor() as cur:
                cur.executemany(
                    "INSERT INTO input_failures (source, origin, outcome, reason)"
                    " VALUES (%s, %s, %s, %s)",
                    [
                        (
                            clean_text(f.source),
                            clean_text(f.origin),
                            f.outcome,
                            clean_text(f.reason[:2000]),
                        )
                        for f in failures
                    ],
                )
            conn.execute(
                "DELETE FROM input_failures WHERE id <= (SELECT MAX(id) FROM input_failures) - %s",
                (KEEP_FAILURES,),
            )

    def failures(self, limit: int = 100) -> list[InputFailure]:
        with self.store.session() as conn:
            rows = conn.execute(
                "SELECT source, origin, outcome, reason, at FROM input_failures"
                " ORDER BY id DESC LIMIT %s",
                (limit,),
            ).fetchall()
        return [
            InputFailure(r["source"], r["origin"], r["outcome"], r["reason"], _stamp(r["at"]) or "")
            for r in rows
        ]
