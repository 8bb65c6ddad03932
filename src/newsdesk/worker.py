"""``newsdesk worker``: claim due feeds and queued jobs from the store, ingest them.

Any number of workers, on any number of machines, share one store. Each claims one
item at a time with a lease (:mod:`newsdesk.store`): a due feed, or a queued URL or
file job. A heartbeat thread renews the leases while the item is worked on, so a
long feed is never taken twice, and reports the worker in ``newsdesk status``. A
worker that dies stops renewing; its leases expire and the item is due again for
the others. Re-ingesting is idempotent (unchanged documents are skipped, ids are
unique), so an item half done by a dead worker is simply done again.

When the store's server goes away (restart, network), the worker waits with
back-off and carries on; the job it was working on goes back to the queue.

Inputs that cannot be ingested are recorded one by one (``newsdesk jobs
failures``); a job whose input cannot be fetched or read at all is retried a few
times, then marked failed with the reason.
"""

from __future__ import annotations

import os
import secrets
import socket
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

from newsdesk.engine import Engine
from newsdesk.errors import FetchError, InputError, NewsdeskError, StoreUnavailable
from newsdesk.ingest.fetch import check_url
from newsdesk.ingest.sources import SUPPORTED, is_url, iter_files
from newsdesk.models import FeedPoll, IngestReport, IngestResult
from newsdesk.store import FeedInfo, InputFailure, Job, JobKind

Log = Callable[[str], None]


@dataclass(frozen=True, slots=True)
class WorkerOptions:
    """How a worker claims and paces its work."""

    lease: timedelta = timedelta(seconds=60)
    feed_interval: timedelta = timedelta(minutes=15)
    # Exit once nothing is due and nothing is held by another worker.
    until_idle: bool = False
    # Seconds between looks at the queue when nothing is due.
    idle_sleep: float = 2.0
    heartbeat: float = 5.0
    # A job whose input could not be fetched or read is tried again after this.
    retry_in: timedelta = timedelta(seconds=30)
    max_items: int | None = None


@dataclass(slots=True)
class WorkerReport:
    """What one worker did before it stopped."""

    worker_id: str
    jobs_done: int = 0
    jobs_failed: int = 0
    jobs_retried: int = 0
    feeds_polled: int = 0
    feeds_failed: int = 0
    counts: dict[str, int] = field(default_factory=dict)
    input_failures: int = 0
    store_outages: int = 0

    def add(self, counts: dict[str, int]) -> None:
        for key, value in counts.items():
            self.counts[key] = self.counts.get(key, 0) + value

    def to_json(self) -> dict[str, object]:
        return {
            "worker": self.worker_id,
            "jobs_done": self.jobs_done,
            "jobs_failed": self.jobs_failed,
            "jobs_retried": self.jobs_retried,
            "feeds_polled": self.feeds_polled,
            "feeds_failed": self.feeds_failed,
            "counts": dict(self.counts),
            "input_failures": self.input_failures,
            "store_outages": self.store_outages,
        }


def new_worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"


def job_targets(inputs: Iterable[str]) -> list[tuple[JobKind, str]]:
    """Jobs for ``inputs``: a URL each, a file each (folders expanded to their files).

    Files are queued by absolute path: a worker on another machine must see the same
    path (a shared folder), or the job fails with the reason.

    Raises:
        InputError: a URL that is not http(s), or a path that does not exist.
    """
    out: list[tuple[JobKind, str]] = []
    for item in inputs:
        if is_url(item):
            try:
                out.append(("url", check_url(item)))
            except FetchError as exc:
                raise InputError(str(exc)) from exc
            continue
        for found in iter_files([Path(item).expanduser()]):
            if not isinstance(found, Path):
                raise InputError(f"{found.origin}: {found.reason}")
            if found.suffix.lower() in SUPPORTED:
                out.append(("file", str(found.resolve())))
    return out


def enqueue(engine: Engine, inputs: Iterable[str]) -> list[tuple[Job, bool]]:
    """Queue ``inputs`` for the workers; returns each job and whether it is new."""
    return [
        engine.jobs.enqueue(kind, target, engine.settings.job_max_attempts)
        for kind, target in job_targets(inputs)
    ]


def feed_backoff(interval: timedelta, errors: int) -> timedelta:
    """When a feed is due again: ``interval``, doubled per failure in a row (at most a day)."""
    if errors <= 0:
        return interval
    backed_off: timedelta = interval * 2 ** min(errors, 10)
    return min(backed_off, timedelta(days=1))


class Worker:
    """One worker process's loop over the shared queue (see the module docstring)."""

    def __init__(
        self,
        engine: Engine,
        options: WorkerOptions,
        *,
        worker_id: str | None = None,
        log: Log | None = None,
    ) -> None:
        self.engine = engine
        self.options = options
        self.id = worker_id or new_worker_id()
        self.log: Log = log or (lambda _msg: None)
        self.report = WorkerReport(self.id)
        self.stop = threading.Event()
        self._current = ""
        self._done: dict[str, int] = {}
        self._held_job: Job | None = None
        self._held_feed: FeedInfo | None = None
        self._lock = threading.Lock()
        self._turn = 0
        # Between jobs a worker does not wait for another process's embedding.
        engine.embed_waits = False

    # -- the loop ------------------------------------------------------------------------
    def run(self) -> WorkerReport:
        """Work until stopped (or, with ``until_idle``, until the queue is idle)."""
        self._retry_store(lambda: self.engine.jobs.register_worker(self.id, *_whoami()))
        beat = threading.Thread(target=self._heartbeat_loop, name="newsdesk-heartbeat")
        beat.daemon = True
        beat.start()
        items = 0
        try:
            while not self.stop.is_set():
                try:
                    worked = self.step()
                    if not worked:
                        if self.options.until_idle and self._queue_idle():
                            break
                        # Idle: index what a busy or unreachable shared index missed.
                        self.engine.index_when_behind()
                except StoreUnavailable as exc:
                    self._store_outage(exc)
                    continue
                if worked:
                    items += 1
                    if self.options.max_items is not None and items >= self.options.max_items:
                        break
                    continue
                self.stop.wait(self.options.idle_sleep)
            self._retry_store(self._flush)
        finally:
            self.stop.set()
            beat.join(timeout=self.options.heartbeat + 5)
            self._retry_store(lambda: self.engine.jobs.stop_worker(self.id), attempts=3)
        return self.report

    def step(self) -> bool:
        """Claim and do one item (feeds and jobs take turns); False if nothing was due."""
        self._turn += 1
        order = (self._step_feed, self._step_job)
        if self._turn % 2 == 0:
            order = (self._step_job, self._step_feed)
        return any(do() for do in order)

    def _queue_idle(self) -> bool:
        """Nothing due and nothing held by another worker (whose lease may still expire)."""
        return not self.engine.jobs.leases() and self.engine.jobs.stats().jobs["queued"] == 0

    def _flush(self) -> None:
        """Before exiting: every stored document embedded (and, on SQLite, indexed)."""
        self.engine.embed_waits = True
        self.engine.embed_pending(wait=True)
        if self.engine.index_on_ingest:
            self.engine.index_when_free()

    # -- feeds ---------------------------------------------------------------------------
    def _step_feed(self) -> bool:
        claimed = self.engine.feed_store.claim_due(self.id, self.options.lease, 1)
        if not claimed:
            return False
        feed = claimed[0]
        self._hold(feed=feed, current=f"feed {feed.url}")
        problems: list[IngestResult] = []

        def collect(result: IngestResult) -> None:
            if result.outcome in ("failed", "skipped"):
                problems.append(result)

        try:
            with self.engine.fetcher() as fetcher:
                poll = self.engine.following.poll(feed, fetcher, collect)
        except StoreUnavailable:
            raise
        except NewsdeskError as exc:
            # Anything else (a store refusal, a summarizer bug) fails this poll only.
            self.engine.feed_store.record_error(feed.url, self.engine.clock(), str(exc))
            poll = FeedPoll(feed.url, "error", feed.title, error=str(exc))
        self._record(problems, f"feed:{feed.url}")
        errors = feed.error_count + 1 if poll.status == "error" else 0
        self.engine.feed_store.release(
            feed.url, self.id, feed_backoff(self.options.feed_interval, errors)
        )
        self._hold()
        self.report.feeds_polled += 1
        self.report.add(poll.counts)
        if poll.status == "error":
            self.report.feeds_failed += 1
            self.log(f"feed {feed.url}: error: {poll.error}")
        else:
            self.log(f"feed {feed.url}: {poll.status} {_counts(poll.counts)}")
        self._count(feeds=1, documents=_stored(poll.counts), errors=int(poll.status == "error"))
        return True

    # -- jobs ----------------------------------------------------------------------------
    def _step_job(self) -> bool:
        job = self.engine.jobs.claim(self.id, self.options.lease)
        if job is None:
            return False
        self._hold(job=job, current=f"job {job.id}: {job.target}")
        problems: list[IngestResult] = []

        def collect(result: IngestResult) -> None:
            if result.outcome in ("failed", "skipped"):
                problems.append(result)

        try:
            report = self._ingest(job, collect)
        except StoreUnavailable:
            raise
        except NewsdeskError as exc:
            self._job_failed(job, str(exc), retry=True)
            return True
        self._record(problems, f"job:{job.id}")
        unreadable = _unreadable(report)
        if unreadable:
            # A URL may answer next time; a file that cannot be read will not change.
            self._job_failed(job, unreadable, retry=job.kind == "url")
            return True
        self.engine.jobs.finish(job.id, self.id, report.counts)
        self._hold()
        self.report.jobs_done += 1
        self.report.add(report.counts)
        self._count(jobs=1, documents=_stored(report.counts))
        self.log(f"job {job.id} {job.target}: {_counts(report.counts)}")
        return True

    def _ingest(self, job: Job, progress: Callable[[IngestResult], None]) -> IngestReport:
        if job.kind == "file" and not Path(job.target).is_file():
            raise InputError(f"no such file on this machine: {job.target}")
        return self.engine.ingest_inputs([job.target], progress)

    def _job_failed(self, job: Job, error: str, retry: bool) -> None:
        retry = retry and job.attempts < job.max_attempts
        self.engine.jobs.fail(job.id, self.id, error, self.options.retry_in if retry else None)
        self._hold()
        if retry:
            self.report.jobs_retried += 1
            self.log(f"job {job.id} {job.target}: attempt {job.attempts} failed ({error}); retry")
        else:
            self.report.jobs_failed += 1
            self.log(f"job {job.id} {job.target}: failed ({error})")
        self._count(errors=1)

    # -- bookkeeping ---------------------------------------------------------------------
    def _record(self, problems: list[IngestResult], source: str) -> None:
        if not problems:
            return
        self.engine.jobs.record_failures(
            [InputFailure(source, p.origin, p.outcome, p.reason) for p in problems]
        )
        self.report.input_failures += len(problems)

    def _hold(
        self, *, job: Job | None = None, feed: FeedInfo | None = None, current: str = ""
    ) -> None:
        with self._lock:
            self._held_job = job
            self._held_feed = feed
            self._current = current

    def _count(self, **done: int) -> None:
        with self._lock:
            for key, value in done.items():
                self._done[key] = self._done.get(key, 0) + value

    def _heartbeat_loop(self) -> None:
        while not self.stop.wait(self.options.heartbeat):
            self._beat()

    def _beat(self) -> None:
        with self._lock:
            current, done = self._current, self._done
            self._done = {}
        try:
            self.engine.jobs.heartbeat(self.id, current=current, done=done)
            self.engine.jobs.renew(self.id, self.options.lease)
            self.engine.feed_store.renew(self.id, self.options.lease)
        except NewsdeskError:
            # Store down: the main loop notices too; the counts are kept for next time.
            with self._lock:
                for key, value in done.items():
                    self._done[key] = self._done.get(key, 0) + value

    def _store_outage(self, exc: StoreUnavailable) -> None:
        """Wait for the store to come back, then give back what was being worked on."""
        self.report.store_outages += 1
        self.log(f"store unavailable ({exc}); waiting for it")

        def give_back() -> None:
            with self._lock:
                job, feed = self._held_job, self._held_feed
            if job is not None:
                self.engine.jobs.release(job.id, self.id)
            if feed is not None:
                self.engine.feed_store.release(feed.url, self.id, timedelta(0))
            self._hold()

        self._retry_store(give_back)
        self.log("store back; carrying on")

    def _retry_store(self, action: Callable[[], None], attempts: int | None = None) -> None:
        """Run ``action``, waiting out store outages (1 s doubling to 15 s between tries)."""
        wait = 1.0
        tried = 0
        while True:
            try:
                action()
                return
            except StoreUnavailable:
                tried += 1
                if (attempts is not None and tried >= attempts) or (
                    self.stop.is_set() and attempts is None and tried >= 30
                ):
                    raise
                time.sleep(wait)
                wait = min(wait * 2, 15.0)


def _whoami() -> tuple[str, int]:
    return socket.gethostname(), os.getpid()


def _stored(counts: dict[str, int]) -> int:
    return counts.get("accepted", 0) + counts.get("updated", 0)


def _counts(counts: dict[str, int]) -> str:
    return ", ".join(f"{k} {v}" for k, v in counts.items() if v) or "nothing new"


def _unreadable(report: IngestReport) -> str:
    """The reason a job's whole input failed (nothing read at all), else ''."""
    if not report.results or any(r.outcome not in ("failed", "skipped") for r in report.results):
        return ""
    if len(report.results) == 1 and report.results[0].outcome == "failed":
        return report.results[0].reason
    return ""
