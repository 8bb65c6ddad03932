"""The store: the source of truth from which every index can be rebuilt.

Two backends sit behind the same protocols, picked by ``store_url`` in the
composition root (:mod:`newsdesk.engine`):

- SQLite (default, one file in the home, :mod:`.sqlite` and :mod:`.sqlite_work`);
- PostgreSQL (``store_url = "postgresql://..."``, shared by many machines,
  :mod:`.postgres` and :mod:`.postgres_work`; ``pip install 'newsdesk[postgres]'``).

The store is split by capability:

- :class:`DocumentStore`: documents, paragraphs, near-duplicate keys, the change
  counter (``rev``) indexes follow;
- :class:`SummaryStore`: summaries and summary failures;
- :class:`IndexStateStore`: the watermark of each derived index and the embeddings;
- :class:`FeedStore`: followed feeds, their poll state and their leases;
- :class:`JobStore`: the queue of URL/file jobs, the workers, per-input failures;
- :class:`TranslationStore`: machine translations cached by text and translator.

:class:`Store` is the first three together (one backend object holds them); the
feed, job and translation stores are separate objects over the same database, and
:func:`newsdesk.engine.open_store` opens all four as :class:`Stores`.

Contract shared by both backends (checked by one test suite run against each):
documents are written in :meth:`DocumentStore.transaction` batches and writers are
serialized, so revisions become visible in increasing order and the near-duplicate
grouping of a document sees every document stored before it, whichever process
stored it; a document id is stored once (primary key); work is claimed with a lease
that expires, so the claims of a killed worker return to the queue.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal, NamedTuple, Protocol

from newsdesk.models import Document, DuplicateRef, Outcome, Summary

# -- plain records --------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class StoredOutcome:
    outcome: Outcome
    doc_id: str
    duplicate_of: str = ""


@dataclass(frozen=True, slots=True)
class IndexRow:
    """What an index needs of one document."""

    id: str
    rev: int
    title: str
    body: str
    lang: str
    source: str
    category: str
    published_ts: int | None
    # The story (syndicated copies) the document belongs to, for collapsing in an index.
    story: str = ""


@dataclass(frozen=True, slots=True)
class SummaryFailure:
    """Why one summarizer produced no summary of one document."""

    doc_id: str
    summarizer: str
    language: str
    error: str
    content_hash: str
    model: str = ""
    prompt_version: str = ""
    created_at: str = ""

    def to_json(self) -> dict[str, str]:
        return {
            "summarizer": self.summarizer,
            "language": self.language,
            "model": self.model,
            "prompt_version": self.prompt_version,
            "error": self.error,
            "created_at": self.created_at,
        }


@dataclass(frozen=True, slots=True)
class Deletion:
    """A document deleted on request: what it was and when it went."""

    seq: int
    doc_id: str
    title: str
    url: str
    deleted_at: str

    def to_json(self) -> dict[str, str]:
        return {
            "id": self.doc_id,
            "title": self.title,
            "url": self.url,
            "deleted_at": self.deleted_at,
        }


@dataclass(frozen=True, slots=True)
class VectorRow:
    """A stored embedding with the filterable fields of its document."""

    id: str
    rev: int
    vector: bytes
    published_ts: int | None
    lang: str
    source: str
    category: str


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
    # When a worker polls it next (None: due now), and who holds it until when.
    next_poll_at: str | None = None
    lease_owner: str = ""
    lease_expires: str | None = None

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
            "next_poll_at": self.next_poll_at,
            "lease_owner": self.lease_owner,
            "lease_expires": self.lease_expires,
        }


JobKind = Literal["url", "file"]
JobState = Literal["queued", "running", "done", "failed"]
JOB_STATES: tuple[JobState, ...] = ("queued", "running", "done", "failed")


@dataclass(frozen=True, slots=True)
class Job:
    """A queued input (a URL, or a file the workers can read) and what became of it."""

    id: int
    kind: JobKind
    target: str
    state: JobState
    attempts: int = 0
    max_attempts: int = 5
    created_at: str = ""
    not_before: str | None = None
    started_at: str | None = None
    finished_at: str | None = None
    lease_owner: str = ""
    lease_expires: str | None = None
    counts: dict[str, int] = field(default_factory=dict)
    error: str = ""

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "kind": self.kind,
            "target": self.target,
            "state": self.state,
            "attempts": self.attempts,
            "max_attempts": self.max_attempts,
            "created_at": self.created_at,
            "not_before": self.not_before,
            "started_at": self.started_at,
            "finished_at": self.finished_at,
            "lease_owner": self.lease_owner,
            "lease_expires": self.lease_expires,
            "counts": dict(self.counts),
            "error": self.error,
        }


@dataclass(frozen=True, slots=True)
class WorkerInfo:
    """A worker process as it last reported itself."""

    id: str
    host: str
    pid: int
    started_at: str
    heartbeat_at: str
    state: str  # running | stopped
    current: str = ""
    jobs_done: int = 0
    feeds_polled: int = 0
    documents: int = 0
    errors: int = 0
    # Seconds since the last heartbeat, by the store's clock.
    heartbeat_age: float = 0.0

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "host": self.host,
            "pid": self.pid,
            "started_at": self.started_at,
            "heartbeat_at": self.heartbeat_at,
            "heartbeat_age_s": round(self.heartbeat_age, 1),
            "state": self.state,
            "current": self.current,
            "jobs_done": self.jobs_done,
            "feeds_polled": self.feeds_polled,
            "documents": self.documents,
            "errors": self.errors,
        }


@dataclass(frozen=True, slots=True)
class Lease:
    """Work a worker holds: a job or a feed, until ``expires``."""

    kind: str  # job | feed
    target: str
    owner: str
    expires: str
    expires_in: float

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "target": self.target,
            "owner": self.owner,
            "expires": self.expires,
            "expires_in_s": round(self.expires_in, 1),
        }


@dataclass(frozen=True, slots=True)
class QueueStats:
    """How much work waits, and how long the oldest due item has waited (seconds)."""

    jobs: dict[str, int]
    feeds: int
    feeds_due: int
    oldest_due_job_age: float | None
    oldest_due_feed_age: float | None

    def to_json(self) -> dict[str, Any]:
        def age(value: float | None) -> float | None:
            return None if value is None else round(value, 1)

        return {
            "jobs": dict(self.jobs),
            "queued_jobs": self.jobs.get("queued", 0),
            "feeds": self.feeds,
            "feeds_due": self.feeds_due,
            "oldest_due_job_age_s": age(self.oldest_due_job_age),
            "oldest_due_feed_age_s": age(self.oldest_due_feed_age),
        }


@dataclass(frozen=True, slots=True)
class InputFailure:
    """One input a worker could not ingest (or skipped), with the job or feed it came from."""

    source: str  # "job:<id>" or "feed:<url>"
    origin: str
    outcome: str
    reason: str
    at: str = ""

    def to_json(self) -> dict[str, str]:
        return {
            "source": self.source,
            "origin": self.origin,
            "outcome": self.outcome,
            "reason": self.reason,
            "at": self.at,
        }


@dataclass(frozen=True, slots=True)
class TranslationKey:
    """Who translated, from and into which language."""

    source: str
    target: str
    backend: str
    model: str = ""


# -- protocols ------------------------------------------------------------------------


class DocumentStore(Protocol):
    """Documents with their paragraphs, near-duplicate keys and change counter."""

    @property
    def kind(self) -> str:
        """``sqlite`` or ``postgresql``."""
        ...

    @property
    def shared(self) -> bool:
        """True when other machines write to this store (indexes keep their own watermark)."""
        ...

    @property
    def schema_version(self) -> int: ...

    def describe(self) -> str:
        """Where the store is, for ``status`` (never with a password)."""
        ...

    def close(self) -> None: ...

    def transaction(self) -> contextlib.AbstractContextManager[Any]:
        """A batch of document writes: committed together, rolled back on error.

        Writers are serialized for the length of the transaction, so revisions
        commit in order and grouping sees every earlier document.
        """
        ...

    def savepoint(self) -> contextlib.AbstractContextManager[Any]:
        """Writes that succeed or fail together inside the caller's transaction: a
        failure rolls back only these (the batch goes on), raised as ``StoreError``
        when the store refused the data."""
        ...

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

        ``unchanged`` if the id already holds the same content, ``duplicate`` if
        another document has the same content or URL.
        """
        ...

    def delete_documents(self, ids: Sequence[str], now: str = "") -> list[Deletion]:
        """Delete documents with everything that hangs off them, and record each."""
        ...

    def deletions(self, limit: int = 1000) -> list[Deletion]: ...

    def count_deletions(self) -> int: ...

    def deletion_seq(self) -> int:
        """The sequence number of the latest deletion (0 when none)."""
        ...

    def deleted_since(self, seq: int) -> list[str]:
        """Ids deleted after deletion ``seq`` and not stored again since."""
        ...

    def pending_deletions(self) -> list[str]:
        """Deleted ids the (one, shared) lexical index may still hold."""
        ...

    def mark_deletions_indexed(self, ids: Sequence[str]) -> None: ...

    def languages(self) -> list[tuple[str, int]]: ...

    def replace_signatures(self, rows: Sequence[tuple[str, bytes, Sequence[int]]]) -> None: ...

    def paragraph_texts(self, ids: Sequence[str]) -> dict[str, list[str]]: ...

    def ids_after(self, after: str, limit: int) -> list[str]: ...

    def content_hash_of(self, doc_id: str) -> str | None: ...

    def content_hashes(self, ids: Sequence[str]) -> dict[str, str]:
        """Content hash per stored document id (ids not stored are left out)."""
        ...

    def max_rev(self) -> int: ...

    def count_documents(self, max_rev: int | None = None) -> int: ...

    def count_stories(self) -> int: ...

    def sources(self, limit: int = 200) -> list[tuple[str, int]]: ...

    def rows_since(self, rev: int, limit: int = 1000) -> list[IndexRow]: ...

    def get_documents(self, ids: Sequence[str]) -> dict[str, Document]: ...

    def get_document(self, doc_id: str) -> Document | None: ...

    def newest_ids(self, limit: int, offset: int = 0) -> list[str]: ...

    def story_of(self, ids: Sequence[str]) -> dict[str, str]: ...

    def stories_and_times(self, ids: Sequence[str]) -> dict[str, tuple[str, datetime | None]]: ...

    def story_members(self, story_ids: Sequence[str]) -> dict[str, list[DuplicateRef]]: ...

    def story_candidates(
        self, bands: Sequence[int], exclude: str
    ) -> list[tuple[str, str, bytes, int | None]]: ...

    def band_neighbours(
        self, band_keys: Sequence[Sequence[int]]
    ) -> dict[tuple[int, int], list[tuple[str, str, bytes, int | None]]]:
        """For each (band, key) of these band-key lists (band = position in a list):
        (doc id, story id, minhash, published_ts) of the stored documents that hold it,
        by doc id. One lookup for a whole batch instead of one per document."""
        ...

    def merge_stories(self, a: str, b: str, evidence: str = "") -> str | None:
        """Put the stories of documents ``a`` and ``b`` under one story id (the one whose
        representative was published first) and record the link with ``evidence``;
        returns that story id, None if either document is gone. Idempotent."""
        ...

    def story_links(self, ids: Sequence[str]) -> list[tuple[str, str, str]]:
        """Recorded links (doc a, doc b, evidence) that involve any of ``ids``."""
        ...

    def all_ids(self) -> list[str]: ...


class SummaryStore(Protocol):
    """Summaries keyed by (document, summarizer, language) and why some failed."""

    def put_summary(self, summary: Summary) -> None: ...

    def put_summary_error(self, error: SummaryFailure) -> None: ...

    def get_summary(
        self, doc_id: str, summarizer: str, language: str, model: str, prompt_version: str
    ) -> Summary | None: ...

    def summary_errors(self, doc_id: str) -> list[SummaryFailure]: ...

    def get_summaries(
        self, ids: Sequence[str], summarizer: str, language: str | None = None
    ) -> dict[str, Summary]: ...

    def count_summarized(self, summarizer: str) -> int: ...


class IndexStateStore(Protocol):
    """The watermark and parameters of each derived index, and the stored embeddings."""

    def index_state(self, name: str) -> tuple[int, dict[str, Any]] | None: ...

    def set_index_state(self, name: str, rev: int, params: dict[str, Any]) -> None:
        """Record index ``name`` at ``rev`` with ``params`` (may go back: a rebuild)."""
        ...

    def advance_index_state(self, name: str, rev: int, params: dict[str, Any]) -> bool:
        """Move index ``name`` forward to ``rev``, only if its recorded ``params`` are these.

        Never moves back, and never writes over a state another process recorded
        with other parameters (a rebuild into another index); True if it moved.
        """
        ...

    def put_embeddings(
        self, name: str, rows: Sequence[tuple[str, int, bytes]], rev: int, params: dict[str, Any]
    ) -> None:
        """Store (doc id, doc rev, vector) rows and move index ``name`` forward to ``rev``."""
        ...

    def clear_embeddings(self, name: str, params: dict[str, Any]) -> None: ...

    def count_embedded(self, after_rev: int = 0) -> int:
        """Documents changed after ``after_rev`` whose stored vector was made from their
        present revision (all of them with the default)."""
        ...

    def embedding_rows(self, after_rev: int, limit: int = 5000) -> list[VectorRow]: ...

    def current_embeddings(self, ids: Sequence[str]) -> dict[str, VectorRow]:
        """The vectors of ``ids`` made from their present revision (others left out)."""
        ...

    def try_lock(self, name: str) -> contextlib.AbstractContextManager[bool]:
        """Hold the named lock across processes (and machines) if it is free.

        Yields False, without waiting, when another holder has it.
        """
        ...


class Store(DocumentStore, SummaryStore, IndexStateStore, Protocol):
    """One backend object holds documents, summaries and index state."""


class FeedStore(Protocol):
    """Followed feeds, their poll state and, for workers, their leases."""

    def add(self, url: str, now: datetime) -> bool: ...

    def remove(self, url: str) -> bool: ...

    def get(self, url: str) -> FeedInfo | None: ...

    def all(self) -> list[FeedInfo]: ...

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
    ) -> None: ...

    def record_error(self, url: str, now: datetime, error: str) -> None: ...

    def claim_due(self, owner: str, lease: timedelta, limit: int = 1) -> list[FeedInfo]:
        """Lease up to ``limit`` feeds that are due and not leased (or whose lease expired)."""
        ...

    def try_lease(self, url: str, owner: str, lease: timedelta) -> bool:
        """Lease one feed now, due or not, unless another holder's lease is running."""
        ...

    def release(self, url: str, owner: str, next_poll_in: timedelta | None) -> None:
        """Give a polled feed back, due again after ``next_poll_in`` (None: as it was)."""
        ...

    def renew(self, owner: str, lease: timedelta) -> int:
        """Extend every feed lease ``owner`` holds; returns how many."""
        ...


class JobStore(Protocol):
    """The job queue, the workers that drain it and what they could not ingest."""

    def enqueue(self, kind: JobKind, target: str, max_attempts: int = 5) -> tuple[Job, bool]:
        """Queue ``target``; an identical job still queued or running is returned instead
        (with False)."""
        ...

    def claim(self, owner: str, lease: timedelta) -> Job | None:
        """Lease the oldest due job (queued, or running under an expired lease)."""
        ...

    def renew(self, owner: str, lease: timedelta) -> int:
        """Extend every job lease ``owner`` holds; returns how many."""
        ...

    def finish(self, job_id: int, owner: str, counts: dict[str, int]) -> bool:
        """Mark a job done (False if ``owner`` no longer holds it)."""
        ...

    def fail(self, job_id: int, owner: str, error: str, retry_in: timedelta | None) -> bool:
        """Record an attempt's error: queued again after ``retry_in`` while attempts
        remain, else failed for good."""
        ...

    def release(self, job_id: int, owner: str) -> bool:
        """Give an unfinished job back to the queue, due now; the attempt does not count
        (the worker stops, or lost the store while it worked)."""
        ...

    def get(self, job_id: int) -> Job | None: ...

    def list_jobs(self, state: JobState | None = None, limit: int = 100) -> list[Job]: ...

    def stats(self) -> QueueStats: ...

    def leases(self) -> list[Lease]: ...

    def register_worker(self, worker_id: str, host: str, pid: int) -> None: ...

    def heartbeat(
        self, worker_id: str, *, current: str = "", done: dict[str, int] | None = None
    ) -> None:
        """Say the worker lives, what it is doing, and add ``done`` to its counters."""
        ...

    def stop_worker(self, worker_id: str) -> None: ...

    def workers(self, include_stopped: bool = False) -> list[WorkerInfo]: ...

    def record_failures(self, failures: Sequence[InputFailure]) -> None: ...

    def failures(self, limit: int = 100) -> list[InputFailure]: ...


class TranslationStore(Protocol):
    """Machine translations, keyed by a hash of the translated text and by ``key``.

    What the translator answered is kept as it came; whether it is good enough to
    show is decided each time it is read.
    """

    def get_translations(self, key: TranslationKey, hashes: Sequence[str]) -> dict[str, str]:
        """The cached translation of each of ``hashes`` that has one, by hash."""
        ...

    def put_translations(
        self, key: TranslationKey, rows: Sequence[tuple[str, str]], now: str
    ) -> None:
        """Store (text hash, translation) rows; a newer answer replaces an older one."""
        ...

    def count_translations(self) -> int: ...


class Stores(NamedTuple):
    """One store's capabilities, opened together over the same database."""

    store: Store
    feeds: FeedStore
    jobs: JobStore
    translations: TranslationStore


__all__ = [
    "JOB_STATES",
    "Deletion",
    "DocumentStore",
    "FeedInfo",
    "FeedStore",
    "IndexRow",
    "IndexStateStore",
    "InputFailure",
    "Job",
    "JobKind",
    "JobState",
    "JobStore",
    "Lease",
    "QueueStats",
    "Store",
    "StoredOutcome",
    "Stores",
    "SummaryFailure",
    "SummaryStore",
    "TranslationKey",
    "TranslationStore",
    "VectorRow",
    "WorkerInfo",
]
