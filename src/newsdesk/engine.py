"""The composition root: the one place that picks concrete backends.

Everything a user can do (ingest, search, show, status, rebuild) is a method of
:class:`Engine`; the CLI and the web app are thin layers over it.
"""

from __future__ import annotations

import contextlib
import functools
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from importlib import resources
from pathlib import Path
from types import TracebackType
from typing import Any

import httpx

from newsdesk import dedupe
from newsdesk.config import Settings
from newsdesk.embed import Embedder
from newsdesk.embed.hashing import HashingEmbedder
from newsdesk.embed.http import HTTPEmbedder
from newsdesk.embed.local import E5Embedder, USEEmbedder
from newsdesk.errors import (
    BackendUnavailable,
    ConfigError,
    ExtractionError,
    FetchError,
    InputError,
    LLMError,
    NewsdeskError,
    NotFound,
    SearchIndexError,
)
from newsdesk.index import SearchIndex
from newsdesk.index.lexical import IndexTerms, LexicalIndex
from newsdesk.index.opensearch import OpenSearchLexical, OpenSearchVectors
from newsdesk.index.opensearch_cluster import ClusterConfig, OpenSearchCluster
from newsdesk.index.vectors import VectorIndex
from newsdesk.ingest import RawRecord, build_document, iter_records
from newsdesk.ingest.feeds import ParsedFeed, parse_feed
from newsdesk.ingest.fetch import Fetched, Fetcher, FetchLimits, check_url
from newsdesk.ingest.sources import SourceProblem, is_url, url_records
from newsdesk.models import (
    Document,
    DuplicateRef,
    FeedPoll,
    IngestReport,
    IngestResult,
    Outcome,
    SearchResults,
    SummarizeReport,
    SummarizeResult,
    Summary,
)
from newsdesk.pipeline import Heavy, Pending, Preparer, auto_workers, compute
from newsdesk.ranking import FusionParams
from newsdesk.search import Searcher, SearchPolicy, SearchRequest, VectorBackend
from newsdesk.store import SQLiteStore, SummaryFailure
from newsdesk.store.feeds import FeedInfo, FeedStore
from newsdesk.summarize import Summarizer
from newsdesk.summarize.extractive import ExtractiveSummarizer
from newsdesk.summarize.llm import LLMSummarizer, OpenAIChatClient

LLM_SUMMARIZER = "llm"
EXTRACTIVE_SUMMARIZER = "extractive"


def _extractive(settings: Settings, language: str) -> Summarizer:
    return ExtractiveSummarizer(ui_language=settings.ui_language)


def _llm(settings: Settings, language: str) -> Summarizer:
    client = OpenAIChatClient(
        settings.llm_base_url,
        settings.llm_model,
        settings.llm_api_key,
        timeout=settings.llm_timeout,
        max_retries=settings.llm_max_retries,
        response_format=settings.llm_response_format,
    )
    return LLMSummarizer(client, settings.llm_model, language=language)


# Summarizers by registered name. Ingest always stores the extractive summary (offline,
# fast); the setting ``summarizer`` is what ``newsdesk summarize`` runs by default.
SUMMARIZERS: dict[str, Callable[[Settings, str], Summarizer]] = {
    EXTRACTIVE_SUMMARIZER: _extractive,
    LLM_SUMMARIZER: _llm,
}

EMBEDDERS: dict[str, Callable[[Settings], Embedder]] = {
    "use-m3": lambda s: USEEmbedder(),
    "e5-small": lambda s: E5Embedder(),
    "http": lambda s: HTTPEmbedder(s.embed_base_url, s.embed_model, s.embed_api_key),
    "hashing": lambda s: HashingEmbedder(),
}
NO_EMBEDDER = "none"


def sample_corpus_path() -> Path:
    """The bundled, illustrative sample corpus (written by the project)."""
    return Path(str(resources.files("newsdesk") / "sample" / "corpus.jsonl"))


# Where the store keeps the parameters its near-duplicate signatures were made with.
_DEDUPE_STATE = "dedupe"
# Records per store transaction, and stored documents between index catch-ups.
BATCH = 256
INDEX_EVERY = 1024
# At the end of an ingest, how often and how long to wait for another process's
# index writer (a concurrent ingest's catch-up takes seconds, not minutes).
INDEX_BUSY_RETRIES = (20, 0.25)


@dataclass(frozen=True, slots=True)
class _Front:
    """A validated record whose fingerprint and summary are still to be computed."""

    record: RawRecord
    doc: Document


def _batches(
    records: Iterable[RawRecord | SourceProblem], size: int
) -> Iterator[list[RawRecord | SourceProblem]]:
    batch: list[RawRecord | SourceProblem] = []
    for item in records:
        batch.append(item)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


def _search_indexes(
    settings: Settings, store: SQLiteStore, vectors: VectorIndex | None
) -> tuple[SearchIndex, VectorBackend | None]:
    """The index the settings pick, and what searches its vectors.

    ``local``: tantivy in the home and the vectors in memory; ``opensearch``: one
    cluster index holds both (vectors are still embedded here, into the store).
    """
    if settings.index_backend == "opensearch":
        cluster = OpenSearchCluster(
            ClusterConfig.from_settings(settings),
            store,
            vectors.params() if vectors is not None else None,
        )
        found = OpenSearchVectors(cluster, vectors) if vectors is not None else None
        return OpenSearchLexical(cluster), found
    return LexicalIndex(settings.index_dir, store), vectors


def build_summarizer(settings: Settings) -> Summarizer:
    """The summarizer ingest runs on every document (also built in worker processes).

    Always the offline extractive one: LLM summaries are made later by ``summarize``.
    """
    return _extractive(settings, "")


def _utc_now() -> datetime:
    return datetime.now(UTC)


class Engine:
    """One newsdesk home: its store, its index and its summarizer."""

    def __init__(
        self,
        settings: Settings,
        *,
        clock: Callable[[], datetime] = _utc_now,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        """Open the home ``settings.home``.

        Args:
            settings: the effective settings.
            clock: the current time (injected by tests; fetch times come from it).
            transport: an httpx transport for fetching (tests); default real network.
        """
        if settings.summarizer not in SUMMARIZERS:
            raise ConfigError(
                f"unknown summarizer {settings.summarizer!r}; choose from {', '.join(SUMMARIZERS)}"
            )
        if settings.embedder not in EMBEDDERS and settings.embedder != NO_EMBEDDER:
            raise ConfigError(
                f"unknown embedder {settings.embedder!r}; choose from "
                f"{', '.join([*EMBEDDERS, NO_EMBEDDER])}"
            )
        self.settings = settings
        settings.home.mkdir(parents=True, exist_ok=True)
        self.store = SQLiteStore(settings.db_path)
        self.summarizer = build_summarizer(settings)
        # Embeds documents into the store; searches them too with the local backend.
        self.vectors: VectorIndex | None = None
        if settings.embedder != NO_EMBEDDER:
            self.vectors = VectorIndex(
                self.store,
                EMBEDDERS[settings.embedder](settings),
                in_memory=settings.index_backend == "local",
            )
            self.vectors.refresh()
        self.lexical: SearchIndex
        self.lexical, search_vectors = _search_indexes(settings, self.store, self.vectors)
        self._llm_summarizers: list[LLMSummarizer] = []
        self._sources_cache: tuple[int, list[tuple[str, int]]] | None = None
        self._check_signatures()
        self.feed_store = FeedStore(self.store)
        # Index terms ingest workers computed for documents not yet indexed.
        self._terms: dict[str, IndexTerms] = {}
        self.clock = clock
        self._transport = transport
        self.searcher = Searcher(
            lexical=self.lexical,
            documents=self.store,
            vectors=search_vectors,
            policy=SearchPolicy(
                relevance_floor=settings.relevance_floor,
                max_relevant=settings.max_relevant,
                summarizer=self.summarizer.name,
                fusion=FusionParams(
                    method=settings.fusion,
                    rrf_k=settings.rrf_k,
                    semantic_weight=settings.semantic_weight,
                    lexical_floor=settings.relevance_floor,
                    semantic_floor=settings.semantic_floor,
                    semantic_ratio=settings.semantic_ratio,
                    feedback_weight=settings.feedback_weight,
                    feedback_floor=settings.feedback_floor,
                    feedback_ratio=settings.feedback_ratio,
                ),
                default_mode=settings.search_mode,
                feedback_docs=settings.feedback_docs,
            ),
        )

    def _check_signatures(self) -> None:
        """Recompute near-duplicate signatures made by another version of ``dedupe``.

        Story groupings already made are kept; new documents are compared with the
        recomputed signatures.
        """
        state = self.store.index_state(_DEDUPE_STATE)
        if state is not None and state[1] == dedupe.PARAMS:
            return
        after = ""
        while ids := self.store.ids_after(after, 500):
            texts = self.store.paragraph_texts(ids)
            rows = []
            for doc_id in ids:
                sig, n = dedupe.fingerprint(texts.get(doc_id, []))
                bands = dedupe.band_keys(sig) if n >= dedupe.MIN_SHINGLES else []
                rows.append((doc_id, dedupe.signature_to_bytes(sig), bands))
            self.store.replace_signatures(rows)
            after = ids[-1]
        self.store.set_index_state(_DEDUPE_STATE, 0, dedupe.PARAMS)

    def __enter__(self) -> Engine:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        for llm in self._llm_summarizers:
            llm.close()
        self._llm_summarizers.clear()
        self.store.close()

    # -- ingest ------------------------------------------------------------------------
    def _front(self, record: RawRecord) -> IngestResult | _Front:
        """Validate one record and skip it early if the store already has it as is."""
        if record.fetched_at is None:
            # Relative publish times ("3小时前") in files count from when we read them.
            record = replace(record, fetched_at=self.clock())
        try:
            doc = build_document(record)
        except ExtractionError as exc:
            return IngestResult("failed", record.origin, reason=str(exc))
        if self.store.content_hash_of(doc.id) == doc.content_hash:
            # Re-ingest (or a rerun after a crash): skip the costly steps.
            return IngestResult("unchanged", record.origin, doc_id=doc.id, title=doc.title)
        return _Front(record, doc)

    def _store(self, item: _Front, heavy: Heavy) -> IngestResult:
        """Group with a near-duplicate story, if any, and store (inside a transaction)."""
        doc = item.doc
        ts = int(doc.published_at.timestamp()) if doc.published_at else None
        candidates = [
            (story, dedupe.signature_from_bytes(blob))
            for _, story, blob, other_ts in self.store.story_candidates(heavy.bands, doc.id)
            if blob and dedupe.close_in_time(ts, other_ts)
        ]
        match = dedupe.best_match(heavy.sig, candidates)
        doc = replace(doc, story_id=match[0] if match else doc.id)
        stored = self.store.put(
            doc,
            minhash=dedupe.signature_to_bytes(heavy.sig),
            bands=heavy.bands,
            summary=heavy.summary,
            origin=item.record.origin,
        )
        if heavy.terms is not None and stored.outcome in ("accepted", "updated"):
            self._terms[doc.id] = heavy.terms
        return IngestResult(
            stored.outcome,
            item.record.origin,
            doc_id=stored.doc_id,
            title=doc.title,
            duplicate_of=stored.duplicate_of,
        )

    def ingest_record(self, record: RawRecord) -> IngestResult:
        """Validate, de-duplicate, summarize and store one record (not yet indexed)."""
        front = self._front(record)
        if isinstance(front, IngestResult):
            return front
        with self.store.transaction():
            return self._store(front, compute(front.doc, self.summarizer))

    def _front_batch(self, batch: list[RawRecord | SourceProblem]) -> list[IngestResult | _Front]:
        slots: list[IngestResult | _Front] = []
        for item in batch:
            if isinstance(item, SourceProblem):
                outcome: Outcome = "skipped" if item.outcome == "skipped" else "failed"
                slots.append(IngestResult(outcome, item.origin, reason=item.reason))
            else:
                slots.append(self._front(item))
        return slots

    def _store_batch(
        self, slots: list[IngestResult | _Front], pending: Pending
    ) -> list[IngestResult]:
        heavy = iter(pending.get())
        if not any(isinstance(s, _Front) for s in slots):
            return [s for s in slots if isinstance(s, IngestResult)]
        # One transaction per batch: a crash loses at most this batch, never half a
        # document, and a rerun redoes it. Near-duplicates within the batch are found
        # because the transaction sees its own uncommitted rows.
        with self.store.transaction():
            return [
                s if isinstance(s, IngestResult) else self._store(s, next(heavy)) for s in slots
            ]

    def ingest_records(
        self,
        records: Iterable[RawRecord | SourceProblem],
        progress: Callable[[IngestResult], None] | None = None,
        *,
        defer_embeddings: bool = False,
        embed_progress: Callable[[int], None] | None = None,
    ) -> IngestReport:
        """Ingest records in batches, index them, and embed them unless ``defer_embeddings``.

        Deferred documents are searchable lexically at once and semantically after
        :meth:`embed_pending` (``newsdesk embed``).

        Batches are pipelined: while one batch is written, the next is fingerprinted
        and summarized (on worker processes when the run spans several batches and
        ``ingest_workers`` allows). Long runs are indexed as they go, every
        ``INDEX_EVERY`` stored documents, so other processes' searches see them early.
        """
        report = IngestReport()
        since_index = 0
        batches = _batches(records, BATCH)
        current = next(batches, None)
        upcoming = next(batches, None)
        large = upcoming is not None
        workers = auto_workers(self.settings.ingest_workers)
        factory = functools.partial(build_summarizer, self.settings)
        in_flight: tuple[list[IngestResult | _Front], Pending] | None = None

        def finish(slots: list[IngestResult | _Front], pending: Pending) -> None:
            nonlocal since_index
            for result in self._store_batch(slots, pending):
                report.results.append(result)
                since_index += result.outcome in ("accepted", "updated")
                if progress is not None:
                    progress(result)
            if since_index >= INDEX_EVERY:
                report.indexed += self._index_if_free()
                since_index = 0

        with Preparer(factory, self.summarizer, workers) as preparer:
            while current is not None:
                slots = self._front_batch(current)
                docs = [s.doc for s in slots if isinstance(s, _Front)]
                pending = preparer.submit(docs, background=large)
                if in_flight is not None:
                    finish(*in_flight)
                in_flight = (slots, pending)
                current, upcoming = upcoming, next(batches, None)
            if in_flight is not None:
                finish(*in_flight)
        report.indexed += self._index_when_free()
        report.index_deferred = self.lexical.pending() > 0
        if not defer_embeddings:
            report.embedded = self.embed_pending(embed_progress)
        return report

    def _index_if_free(self) -> int:
        with contextlib.suppress(SearchIndexError, BackendUnavailable):
            return self.index_pending()
        return 0

    def _index_when_free(self) -> int:
        """Index what is pending, waiting a little for another process's writer.

        If the index stays busy the documents are safely stored and will be indexed
        by whichever process next catches the index up (any engine does on opening).
        """
        attempts, wait = INDEX_BUSY_RETRIES
        for attempt in range(attempts):
            try:
                return self.index_pending()
            except BackendUnavailable:
                return 0  # a cluster that is down: the next catch-up sends everything
            except SearchIndexError:
                if attempt + 1 < attempts:
                    time.sleep(wait)
        return 0

    def ingest_paths(
        self,
        paths: Iterable[Path],
        progress: Callable[[IngestResult], None] | None = None,
        *,
        defer_embeddings: bool = False,
        embed_progress: Callable[[int], None] | None = None,
    ) -> IngestReport:
        """Ingest files and folders (JSONL, text, Markdown, HTML, PDF), index and embed."""
        return self.ingest_records(
            iter_records(list(paths)),
            progress,
            defer_embeddings=defer_embeddings,
            embed_progress=embed_progress,
        )

    def fetcher(self) -> Fetcher:
        """An HTTP client with this home's limits (timeouts, size, redirects)."""
        s = self.settings
        limits = FetchLimits(
            timeout=s.fetch_timeout,
            max_bytes=s.fetch_max_bytes,
            max_redirects=s.fetch_max_redirects,
            user_agent=s.user_agent,
        )
        return Fetcher(limits, transport=self._transport, clock=self.clock)

    def ingest_inputs(
        self,
        inputs: Iterable[str | Path],
        progress: Callable[[IngestResult], None] | None = None,
        *,
        defer_embeddings: bool = False,
        embed_progress: Callable[[int], None] | None = None,
    ) -> IngestReport:
        """Ingest a mix of URLs (pages or feeds, fetched) and local files or folders."""
        items = [str(i) for i in inputs]

        def records(fetcher: Fetcher) -> Iterator[RawRecord | SourceProblem]:
            for item in items:
                if is_url(item):
                    yield from url_records([item], fetcher)
                else:
                    yield from iter_records([Path(item)])

        with self.fetcher() as fetcher:
            return self.ingest_records(
                records(fetcher),
                progress,
                defer_embeddings=defer_embeddings,
                embed_progress=embed_progress,
            )

    # -- feeds -------------------------------------------------------------------------
    def add_feed(self, target: str) -> tuple[FeedInfo, bool]:
        """Follow a feed by URL or file; returns it and whether it is new.

        Raises:
            InputError: neither an http(s) URL nor an existing file.
        """
        if is_url(target):
            try:
                url = check_url(target)
            except FetchError as exc:
                raise InputError(str(exc)) from exc
        else:
            path = Path(target).expanduser()
            if not path.is_file():
                raise InputError(f"not an http(s) URL or an existing file: {target}")
            url = path.resolve().as_uri()
        added = self.feed_store.add(url, self.clock())
        info = self.feed_store.get(url)
        assert info is not None
        return info, added

    def feeds(self) -> list[FeedInfo]:
        return self.feed_store.all()

    def remove_feed(self, target: str) -> bool:
        """Stop following a feed (its documents stay); False if it was not followed."""
        url = target if is_url(target) else Path(target).expanduser().resolve().as_uri()
        return self.feed_store.remove(url)

    def _fetch_feed(self, feed: FeedInfo, fetcher: Fetcher) -> Fetched:
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

    def poll_feed(
        self,
        feed: FeedInfo,
        fetcher: Fetcher,
        progress: Callable[[IngestResult], None] | None = None,
    ) -> FeedPoll:
        """Fetch one feed (conditionally) and ingest its items; errors are recorded."""
        try:
            fetched = self._fetch_feed(feed, fetcher)
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
        except ExtractionError as exc:
            self.feed_store.record_error(feed.url, self.clock(), str(exc))
            return FeedPoll(feed.url, "error", feed.title, error=str(exc))
        report = self.ingest_records(parsed.items, progress)
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

    def poll_feeds(
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
        with self.fetcher() as fetcher:
            for feed in self.feed_store.all():
                if backoff is not None and feed.error_count and feed.last_polled:
                    wait = min(backoff * 2 ** min(feed.error_count, 10), timedelta(days=1))
                    if self.clock() < datetime.fromisoformat(feed.last_polled) + wait:
                        results.append(FeedPoll(feed.url, "backoff", feed.title))
                        continue
                results.append(self.poll_feed(feed, fetcher, progress))
        return results

    def ingest_sample(
        self,
        progress: Callable[[IngestResult], None] | None = None,
        *,
        defer_embeddings: bool = False,
        embed_progress: Callable[[int], None] | None = None,
    ) -> IngestReport:
        return self.ingest_paths(
            [sample_corpus_path()],
            progress,
            defer_embeddings=defer_embeddings,
            embed_progress=embed_progress,
        )

    def index_pending(self, progress: Callable[[int], None] | None = None) -> int:
        """Bring the search index up to date with the store (and the vectors it holds)."""
        done = self.lexical.catch_up(progress, self._terms)
        self._terms.clear()
        self.lexical.catch_up_vectors()
        return done

    def rebuild_index(self, progress: Callable[[int], None] | None = None) -> int:
        return self.lexical.rebuild(progress)

    def embed_pending(self, progress: Callable[[int], None] | None = None) -> int:
        """Embed every document stored or changed since the last run; returns how many.

        Resumable: vectors are saved batch by batch with the watermark, so an
        interrupted run continues where it stopped. No-op without an embedder.

        Raises:
            BackendUnavailable: the embedder cannot run.
        """
        if self.vectors is None:
            return 0
        done = self.vectors.catch_up(progress)
        # A cluster that is down gets the vectors at its next catch-up.
        with contextlib.suppress(BackendUnavailable, SearchIndexError):
            self.lexical.catch_up_vectors()
        return done

    def rebuild_embeddings(self, progress: Callable[[int], None] | None = None) -> int:
        if self.vectors is None:
            return 0
        return self.vectors.rebuild(progress)

    def pending_embeddings(self) -> int:
        if self.vectors is None:
            return 0
        if self.vectors.stale_reason:
            return self.store.count_documents()
        return self.vectors.pending()

    # -- read --------------------------------------------------------------------------
    def search(self, request: SearchRequest | str) -> SearchResults:
        """Search; each hit carries its preferred summary (see :meth:`summary_for`)."""
        if isinstance(request, str):
            request = SearchRequest(
                query=request, sort=self.settings.default_sort, limit=self.settings.default_limit
            )
        results = self.searcher.search(request)
        preferred = self.summaries_for([h.document.id for h in results.hits], extractive=False)
        if not preferred:
            return results
        hits = tuple(
            replace(h, summary=preferred.get(h.document.id, h.summary)) for h in results.hits
        )
        return replace(results, hits=hits)

    def refresh(self) -> None:
        """See documents other processes have indexed since this engine opened."""
        self.lexical.reload()
        if self.vectors is not None:
            self.vectors.refresh()

    def document(self, doc_id: str) -> Document:
        doc = self.store.get_document(doc_id)
        if doc is None:
            raise NotFound("document", doc_id)
        return doc

    def summary(self, doc_id: str) -> Summary | None:
        """The extractive summary made at ingest."""
        return self.store.get_summaries([doc_id], self.summarizer.name).get(doc_id)

    def summaries_for(
        self, ids: Sequence[str], language: str | None = None, *, extractive: bool = True
    ) -> dict[str, Summary]:
        """The summary to show for each document: the LLM summary in ``language``
        (default: the ``summary_language`` setting) when there is a current one, else
        the extractive summary (left out with ``extractive=False``).
        """
        lang = language or self.settings.summary_language
        out = self.store.get_summaries(ids, LLM_SUMMARIZER, lang)
        if extractive:
            missing = [i for i in ids if i not in out]
            if missing:
                out.update(self.store.get_summaries(missing, self.summarizer.name))
        return out

    def summary_for(self, doc_id: str, language: str | None = None) -> Summary | None:
        return self.summaries_for([doc_id], language).get(doc_id)

    def summary_errors(self, doc_id: str) -> list[SummaryFailure]:
        return self.store.summary_errors(doc_id)

    # -- summarize ---------------------------------------------------------------------
    def make_summarizer(self, name: str, language: str | None = None) -> Summarizer:
        """A summarizer by registered name; LLM summaries in ``language`` (default setting)."""
        if name not in SUMMARIZERS:
            raise ConfigError(f"unknown summarizer {name!r}; choose from {', '.join(SUMMARIZERS)}")
        made = SUMMARIZERS[name](self.settings, language or self.settings.summary_language)
        if isinstance(made, LLMSummarizer):
            self._llm_summarizers.append(made)  # its HTTP client closes with the engine
        return made

    def ids_for_query(self, query: str) -> list[str]:
        """Every relevant document for ``query`` (story representatives), newest first."""
        ids: list[str] = []
        offset = 0
        while True:
            page = self.searcher.search(SearchRequest(query=query, limit=100, offset=offset))
            ids.extend(h.document.id for h in page.hits)
            offset += 100
            if offset >= page.total or not page.hits:
                return ids

    def summarize_documents(
        self,
        ids: Iterable[str],
        summarizer: Summarizer,
        *,
        concurrency: int = 1,
        force: bool = False,
        progress: Callable[[SummarizeResult], None] | None = None,
        give_up_after: int = 3,
    ) -> SummarizeReport:
        """Summarize documents in a bounded thread pool, reusing cached summaries.

        One document's failure never stops the batch: it is recorded (and shown with
        the document) while the document keeps its extractive summary. An endpoint that
        cannot be reached for ``give_up_after`` documents in a row is not tried for the
        rest, which are reported as not tried (and left for a re-run).
        """
        if concurrency < 1:
            raise InputError("concurrency must be at least 1")
        model = getattr(summarizer, "model", "")
        language = getattr(summarizer, "language", "")
        report = SummarizeReport(summarizer.name, language, model)
        pending: dict[Future[Summary], Document] = {}
        unreachable = [0]  # consecutive documents that failed for want of a connection

        def finish(result: SummarizeResult, cause: BaseException | None = None) -> None:
            if result.outcome == "failed":
                down = isinstance(cause, LLMError) and cause.unreachable
                unreachable[0] = unreachable[0] + 1 if down else 0
            elif result.outcome == "summarized":
                unreachable[0] = 0
            report.results.append(result)
            if progress is not None:
                progress(result)

        # Only the calling thread touches the store; workers only summarize.
        with ThreadPoolExecutor(max_workers=concurrency) as pool:
            for doc_id in ids:
                if unreachable[0] >= give_up_after:
                    finish(SummarizeResult(doc_id, "not_tried", "the endpoint is unreachable"))
                    continue
                doc = self.store.get_document(doc_id)
                if doc is None:
                    finish(SummarizeResult(doc_id, "missing", "no such document"))
                    continue
                cached = None if force else self._cached(summarizer, doc, language, model)
                if cached is not None:
                    finish(SummarizeResult(doc_id, "cached"))
                    continue
                pending[pool.submit(summarizer.summarize, doc)] = doc
                while len(pending) >= concurrency:
                    self._collect(pending, summarizer, finish)
            while pending:
                self._collect(pending, summarizer, finish)
        return report

    def _cached(
        self, summarizer: Summarizer, doc: Document, language: str, model: str
    ) -> Summary | None:
        if summarizer.name == LLM_SUMMARIZER:
            return self.store.get_summary(
                doc.id, summarizer.name, language, model, summarizer.version
            )
        found = self.store.get_summaries([doc.id], summarizer.name).get(doc.id)
        return found if found is not None and found.prompt_version == summarizer.version else None

    def _collect(
        self,
        pending: dict[Future[Summary], Document],
        summarizer: Summarizer,
        finish: Callable[[SummarizeResult, BaseException | None], None],
    ) -> None:
        done, _ = wait(list(pending), return_when=FIRST_COMPLETED)
        for future in done:
            doc = pending.pop(future)
            try:
                summary = future.result()
            except Exception as exc:
                # Deliberately broad: a summarizer bug on one document must not stop the batch.
                reason = (
                    str(exc) if isinstance(exc, NewsdeskError) else f"{type(exc).__name__}: {exc}"
                )
                self._record_failure(summarizer, doc, reason)
                finish(SummarizeResult(doc.id, "failed", reason), exc)
                continue
            self.store.put_summary(summary)
            finish(
                SummarizeResult(
                    doc.id,
                    "summarized",
                    dropped=len(summary.verification.dropped),
                    repaired=summary.verification.repaired,
                ),
                None,
            )

    def _record_failure(self, summarizer: Summarizer, doc: Document, reason: str) -> None:
        self.store.put_summary_error(
            SummaryFailure(
                doc_id=doc.id,
                summarizer=summarizer.name,
                language=getattr(summarizer, "language", "") or doc.lang,
                error=reason[:2000],
                content_hash=doc.content_hash,
                model=getattr(summarizer, "model", ""),
                prompt_version=summarizer.version,
            )
        )
        # The document keeps (or gets) its offline summary.
        if not self.store.get_summaries([doc.id], self.summarizer.name):
            self.store.put_summary(self.summarizer.summarize(doc))

    def other_sources(self, doc: Document) -> list[DuplicateRef]:
        members = self.store.story_members([doc.story_id]).get(doc.story_id, [])
        return [m for m in members if m.id != doc.id]

    def sources(self) -> list[tuple[str, int]]:
        """Known sources and how many documents each has, for filters.

        Counting scans every document, so the answer is kept until the store changes.
        """
        rev = self.store.max_rev()
        cached = self._sources_cache
        if cached is None or cached[0] != rev:
            cached = (rev, self.store.sources())
            self._sources_cache = cached
        return cached[1]

    def status(self) -> dict[str, Any]:
        documents = self.store.count_documents()
        watermark = self.lexical.watermark
        return {
            "documents": documents,
            "indexed": self.store.count_documents(watermark),
            "embedded": self._embedded_count(),
            "summarized": self.store.count_summarized(self.summarizer.name),
            "summarized_llm": self.store.count_summarized(LLM_SUMMARIZER),
            "stories": self.store.count_stories(),
            "feeds": len(self.feed_store.all()),
            "home": str(self.settings.home),
            "database": str(self.settings.db_path),
            "schema_version": self.store.schema_version,
            "backends": {
                "store": "sqlite",
                "lexical_index": "opensearch"
                if self.settings.index_backend == "opensearch"
                else "tantivy",
                "summarizer": self.summarizer.name,
                "embedder": self.vectors.embedder.id if self.vectors is not None else NO_EMBEDDER,
                "search_mode": self.settings.search_mode,
                "fusion": self.settings.fusion,
            },
            "vector_index": (self.vectors.stale_reason or "ok")
            if self.vectors is not None
            else "off",
            "index": self.lexical.describe(),
        }

    def _embedded_count(self) -> int:
        if self.vectors is None or self.vectors.stale_reason:
            return 0
        return self.store.count_embedded()


def open_engine(settings: Settings, **kwargs: Any) -> Engine:
    """Open an engine and catch the index up with anything a crash left unindexed.

    Keyword arguments (``clock``, ``transport``) are passed to :class:`Engine`.
    """
    engine = Engine(settings, **kwargs)
    # If another process holds the index writer, it will index what it stored; a
    # cluster that is down is caught up at the next chance (searches say it is down).
    with contextlib.suppress(SearchIndexError, BackendUnavailable):
        engine.index_pending()
    return engine
