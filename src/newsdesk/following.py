"""Following feeds: adding, removing and polling them, with their error state.

One capability of the engine (:class:`newsdesk.engine.Engine` wires it): a poll fetches
each feed conditionally, ingests its items through the engine's ingest, and records
what happened per feed, so one broken feed (an unreachable server, a URL stored by an
older version that no longer parses, a missing parser) never stops the others.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta
from pathlib import Path

import httpx

from newsdesk.config import Settings
from newsdesk.errors import BackendUnavailable, ExtractionError, FetchError, InputError
from newsdesk.ingest import RawRecord
from newsdesk.ingest.feeds import ParsedFeed, parse_feed
from newsdesk.ingest.fetch import REFUSED, Fetched, Fetcher, check_url, literal_host_refused
from newsdesk.ingest.sources import SourceProblem, is_url
from newsdesk.models import FeedPoll, IngestReport, IngestResult
from newsdesk.store import FeedInfo, FeedStore

Ingest = Callable[
    [Iterable[RawRecord | SourceProblem], Callable[[IngestResult], None] | None], IngestReport
]


class Following:
    """The feeds one home follows."""

    def __init__(
        self,
        settings: Settings,
        feed_store: FeedStore,
        fetcher: Callable[[], Fetcher],
        ingest: Ingest,
        clock: Callable[[], datetime],
    ) -> None:
        self.settings = settings
        self.feed_store = feed_store
        self._fetcher = fetcher
        self._ingest = ingest
        self.clock = clock

    def add(self, target: str) -> tuple[FeedInfo, bool]:
        """Follow a feed by URL or file; returns it and whether it is new.

        Raises:
            InputError: neither an http(s) URL nor an existing file.
        """
        if is_url(target):
            try:
                url = check_url(target)
            except FetchError as exc:
                raise InputError(str(exc)) from exc
            host = httpx.URL(url).raw_host.decode("ascii")
            if not self.settings.fetch_allow_private and literal_host_refused(host):
                # Said at once; names that resolve to such addresses are refused at poll.
                raise InputError(f"{url}: {REFUSED} (set fetch_allow_private to allow it)")
        else:
            path = Path(target).expanduser()
            if not path.is_file():
                raise InputError(f"not an http(s) URL or an existing file: {target}")
            url = path.resolve().as_uri()
        added = self.feed_store.add(url, self.clock())
        info = self.feed_store.get(url)
        assert info is not None
        return info, added

    def remove(self, target: str) -> bool:
        """Stop following a feed (its documents stay); False if it was not followed."""
        url = target if is_url(target) else Path(target).expanduser().resolve().as_uri()
        return self.feed_store.remove(url)

    def _fetch(self, feed: FeedInfo, fetcher: Fetcher) -> Fetched:
        if not feed.url.startswith("file:"):
            return fetcher.get(feed.url, etag=feed.etag, last_modified=feed.last_modified)
        path = Path(httpx.URL(feed.url).path)
        try:
            stat = path.stat()
            stamp = f"{stat.st_mtime_ns}:{stat.st_size}"
            now = self.clock()
            if stamp == feed.last_modified:
                return Fetched(feed.url, 304, "", b"", now, last_modified=stamp)
            if stat.st_size > self.settings.fetch_max_bytes:
                raise FetchError(f"file too large ({stat.st_size} bytes)", feed.url)
            return Fetched(feed.url, 200, "", path.read_bytes(), now, last_modified=stamp)
        except OSError as exc:
            raise FetchError(f"cannot read: {exc.strerror or exc}", feed.url) from exc

    def poll(
        self,
        feed: FeedInfo,
        fetcher: Fetcher,
        progress: Callable[[IngestResult], None] | None = None,
    ) -> FeedPoll:
        """Fetch one feed (conditionally) and ingest its items; errors are recorded."""
        try:
            fetched = self._fetch(feed, fetcher)
            if fetched.not_modified:
                self.feed_store.record_success(feed.url, self.clock(), status="not_modified")
                return FeedPoll(feed.url, "not_modified", feed.title)
            parsed: ParsedFeed = parse_feed(
                fetched.body, fetched.url, fetched.content_type, fetched.fetched_at
            )
        except FetchError as exc:
            reason = exc.reason if exc.url == feed.url else str(exc)
            self.feed_store.record_error(feed.url, self.clock(), reason)
            return FeedPoll(feed.url, "error", feed.title, error=reason)
        except (ExtractionError, BackendUnavailable, ValueError, httpx.InvalidURL) as exc:
            # ValueError: a stored URL that no longer parses (added by an older version).
            reason = (
                str(exc)
                if isinstance(exc, ExtractionError | BackendUnavailable)
                else f"malformed URL ({exc})"
            )
            self.feed_store.record_error(feed.url, self.clock(), reason)
            return FeedPoll(feed.url, "error", feed.title, error=reason)
        report = self._ingest(parsed.items, progress)
        self.feed_store.record_success(
            feed.url,
            self.clock(),
            status="ok",
            title=parsed.title,
            kind=parsed.kind,
            etag=fetched.etag,
            last_modified=fetched.last_modified,
            items=len(parsed.items),
            accepted=report.counts["accepted"] + report.counts["updated"],
        )
        return FeedPoll(
            feed.url, "ok", parsed.title or feed.title, len(parsed.items), report.counts
        )

    def poll_all(
        self,
        progress: Callable[[IngestResult], None] | None = None,
        backoff: timedelta | None = None,
    ) -> list[FeedPoll]:
        """Poll every followed feed once.

        Args:
            progress: called once per item ingested.
            backoff: when set, a feed that failed ``n`` times in a row is skipped until
                ``backoff * 2**n`` (at most a day) has passed since its last poll.
        """
        results = []
        # Workers may be polling the same feeds: a feed one of them holds is left to it.
        owner = f"poll:{socket.gethostname()}:{os.getpid()}"
        lease = timedelta(seconds=self.settings.worker_lease)
        with self._fetcher() as fetcher:
            for feed in self.feed_store.all():
                if backoff is not None and feed.error_count and feed.last_polled:
                    wait = min(backoff * 2 ** min(feed.error_count, 10), timedelta(days=1))
                    if self.clock() < datetime.fromisoformat(feed.last_polled) + wait:
                        results.append(FeedPoll(feed.url, "backoff", feed.title))
                        continue
                if not self.feed_store.try_lease(feed.url, owner, lease):
                    results.append(FeedPoll(feed.url, "leased", feed.title))
                    continue
                try:
                    results.append(self.poll(feed, fetcher, progress))
                finally:
                    self.feed_store.release(feed.url, owner, None)
        return results
