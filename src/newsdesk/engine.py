"""The composition root: the one place that picks concrete backends.

Everything a user can do (ingest, search, show, status, rebuild) is a method of
:class:`Engine`; the CLI and the web app are thin layers over it.
"""

from __future__ import annotations

import contextlib
import functools
import itertools
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
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
from newsdesk.endpoints import OpenAIChatClient
from newsdesk.errors import (
    BackendUnavailable,
    ConfigError,
    EndpointError,
    ExtractionError,
    InputError,
    NewsdeskError,
    NotFound,
    SearchIndexError,
    StoreError,
    StoreUnavailable,
)
from newsdesk.following import Following
from newsdesk.index import SearchIndex
from newsdesk.index.lexical import IndexTerms, LexicalIndex
from newsdesk.index.opensearch import OpenSearchLexical, OpenSearchVectors
from newsdesk.index.opensearch_client import ClusterConfig
from newsdesk.index.opensearch_cluster import OpenSearchCluster
from newsdesk.index.vectors import VectorIndex
from newsdesk.index.watermarks import FileWatermark, Watermark
from newsdesk.ingest import RawRecord, build_document, iter_records
from newsdesk.ingest.dates import in_window, window_text
from newsdesk.ingest.fetch import (
    Fetcher,
    FetchLimits,
    Resolver,
)
from newsdesk.ingest.sources import SourceProblem, is_url, url_records
from newsdesk.models import (
    Document,
    DuplicateRef,
    FeedPoll,
    IngestReport,
    IngestResult,
    Outcome,
    ReaderSummary,
    SearchResults,
    SummarizeReport,
    SummarizeResult,
    Summary,
)
from newsdesk.pipeline import Heavy, Pending, Preparer, auto_workers, compute
from newsdesk.ranking import RELEVANCE_MODELS, FusionParams, RelevanceModel
from newsdesk.reader import SummaryReader
from newsdesk.search import Searcher, SearchPolicy, SearchRequest, VectorBackend
from newsdesk.store import (
    Deletion,
    FeedInfo,
    Store,
    Stores,
    SummaryFailure,
)
from newsdesk.store.sqlite import SQLiteStore
from newsdesk.store.sqlite_translations import SQLiteTranslations
from newsdesk.store.sqlite_work import SQLiteFeeds, SQLiteJobs
from newsdesk.store.translations import TranslationCache
from newsdesk.story_links import link_new_documents
from newsdesk.summarize import Summarizer
from newsdesk.summarize.batch import summarize_batch
from newsdesk.summarize.extractive import ExtractiveSummarizer
from newsdesk.summarize.llm import LLMSummarizer
from newsdesk.translate import Translator
from newsdesk.translate.libretranslate import LibreTranslator
from newsdesk.translate.llm import LLMTranslator
from newsdesk.translate.service import TranslationService

# The languages ingest detects (JSONL may name others; those in a home are accepted too).
LANGUAGES = ("zh", "en", "mixed")
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


def _llm_translator(settings: Settings, retries: int) -> Translator:
    client = OpenAIChatClient(
        settings.llm_base_url,
        settings.llm_model,
        settings.llm_api_key,
        timeout=settings.translate_timeout,
        max_retries=retries,
        response_format=settings.llm_response_format,
    )
    return LLMTranslator(client, settings.llm_model)


def _libretranslate(settings: Settings, retries: int) -> Translator:
    return LibreTranslator(
        settings.libretranslate_url,
        settings.libretranslate_api_key,
        timeout=settings.translate_timeout,
        max_retries=retries,
    )


# Translators by registered name, built with the number of retries to allow: reads
# (pages, show) try once, bulk runs (translate, summarize --lang) retry with back-off.
TRANSLATORS: dict[str, Callable[[Settings, int], Translator]] = {
    "llm": _llm_translator,
    "libretranslate": _libretranslate,
}


def translator_name(settings: Settings, name: str | None = None) -> str | None:
    """The translator to use (``None``: none is configured). ``auto`` picks
    LibreTranslate when its URL is set, else the LLM endpoint when one is set."""
    chosen = name or settings.translator
    if chosen == "none":
        return None
    if chosen == "auto":
        if settings.libretranslate_url:
            return "libretranslate"
        return "llm" if settings.llm_base_url and settings.llm_model else None
    if chosen not in TRANSLATORS:
        raise ConfigError(
            f"unknown translator {chosen!r}; choose from {', '.join([*TRANSLATORS, 'none'])}"
        )
    return chosen


EMBEDDERS: dict[str, Callable[[Settings], Embedder]] = {
    "use-m3": lambda s: USEEmbedder(),
    "e5-small": lambda s: E5Embedder(),
    "http": lambda s: HTTPEmbedder(s.embed_base_url, s.embed_model, s.embed_api_key),
    "hashing": lambda s: HashingEmbedder(),
}
NO_EMBEDDER = "none"
# Words in both languages, so a warm-up touches the segmenter, both analysers of the
# index and the embedder.
WARM_UP_QUERY = "新闻 news"


def crosslingual_enabled(settings: Settings) -> bool:
    """Whether stories are merged across languages: ``auto`` means with a real
    embedding model (the hashing embedder's vectors cannot tell translations)."""
    if settings.crosslingual_stories == "auto":
        return settings.embedder not in ("hashing", NO_EMBEDDER)
    return settings.crosslingual_stories == "on" and settings.embedder != NO_EMBEDDER


def relevance_model(settings: Settings) -> RelevanceModel | None:
    """The relevance decision fitted for the configured embedder (None: the broad cut-off)."""
    model = RELEVANCE_MODELS.get(settings.embedder)
    if model is None or not settings.confident_only:
        return None
    if settings.relevance_threshold > 0:
        return replace(model, threshold=settings.relevance_threshold)
    return model


def sample_corpus_path() -> Path:
    """The bundled, illustrative sample corpus (written by the project)."""
    return Path(str(resources.files("newsdesk") / "sample" / "corpus.jsonl"))


# Where the store keeps the parameters its near-duplicate signatures were made with.
_DEDUPE_STATE = "dedupe"
# Records per store transaction, and stored documents between index catch-ups.
BATCH = 256
INDEX_EVERY = 1024
# The watermark of the extractive summaries caught up after a large ingest, and how
# many documents an ingest keeps in memory for that catch-up.
SUMMARIES_STATE = "summaries"
UNSUMMARIZED_KEPT = 8192
# A running worker heartbeats every few seconds; one silent this long is reported lost
# (its leases expire by themselves and others take its work over).
WORKER_LOST_AFTER = 30.0
# At the end of an ingest, how often and how long to wait for another process's
# index writer (a concurrent ingest's catch-up takes seconds, not minutes).
INDEX_BUSY_RETRIES = (20, 0.25)


@dataclass(frozen=True, slots=True)
class _Front:
    """A validated record whose fingerprint and summary are still to be computed."""

    record: RawRecord
    doc: Document
    note: str = ""


class _BatchGrouping:
    """Near-duplicate candidates for the documents of one batch, stored in order: the
    store's band neighbours as they were when the batch began (looked up once), and the
    documents of the batch stored so far, which replace what the store held for
    their ids. The same candidates as asking the store before each document."""

    def __init__(
        self,
        stored: dict[tuple[int, int], list[tuple[str, str, bytes, int | None]]],
        band_keys: Sequence[Sequence[int]],
    ) -> None:
        self._stored = stored
        self._batch: dict[tuple[int, int], dict[str, tuple[str, str, bytes, int | None]]] = {}
        self._bands: dict[str, list[int]] = {}
        # Only a key that two documents of the batch hold can match inside it.
        counts = Counter(itertools.chain.from_iterable(map(enumerate, band_keys)))
        self._shared = {pair for pair, n in counts.items() if n > 1}

    def candidates(
        self, bands: Sequence[int], exclude: str
    ) -> list[tuple[str, str, bytes, int | None]]:
        """(doc id, story id, minhash, published_ts) of documents sharing a band key,
        each once, by band and then doc id."""
        out: list[tuple[str, str, bytes, int | None]] = []
        seen = {exclude}
        stored, batch = self._stored, self._batch
        for pair in enumerate(bands):
            rows: list[tuple[str, str, bytes, int | None]] = []
            if pair in stored:
                rows = [r for r in stored[pair] if r[0] not in self._bands]
            if pair in batch:
                rows = sorted([*rows, *batch[pair].values()])
            for row in rows:
                if row[0] not in seen:
                    seen.add(row[0])
                    out.append(row)
        return out

    def add(self, doc: Document, minhash: bytes, bands: Sequence[int]) -> None:
        """``doc`` was stored (new or updated) with this signature and these keys."""
        for pair in enumerate(self._bands.get(doc.id, ())):
            self._batch.get(pair, {}).pop(doc.id, None)
        ts = int(doc.published_at.timestamp()) if doc.published_at else None
        row = (doc.id, doc.story_id or doc.id, minhash, ts)
        for pair in enumerate(bands):
            if pair in self._shared:
                self._batch.setdefault(pair, {})[doc.id] = row
        self._bands[doc.id] = list(bands)


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


def open_store(settings: Settings) -> Stores:
    """The store ``store_url`` names (default: SQLite in the home), with its feeds, jobs
    and translation cache.

    Raises:
        BackendUnavailable: PostgreSQL is configured but psycopg is not installed.
        StoreUnavailable: the PostgreSQL server cannot be reached.
    """
    if not settings.store_url:
        sqlite = SQLiteStore(settings.db_path)
        return Stores(sqlite, SQLiteFeeds(sqlite), SQLiteJobs(sqlite), SQLiteTranslations(sqlite))
    try:
        # Optional dependency: only PostgreSQL homes need psycopg.
        from newsdesk.store.postgres import PostgresStore
        from newsdesk.store.postgres_translations import PostgresTranslations
        from newsdesk.store.postgres_work import PostgresFeeds, PostgresJobs
    except ImportError as exc:
        raise BackendUnavailable(
            "store_url names PostgreSQL, which needs psycopg 3 and psycopg-pool:"
            f" pip install 'newsdesk[postgres]' ({exc})",
            backend="postgresql",
        ) from exc
    pg = PostgresStore(settings.store_url, pool_size=settings.store_pool_size)
    return Stores(pg, PostgresFeeds(pg), PostgresJobs(pg), PostgresTranslations(pg))


def lexical_watermark(settings: Settings, store: Store) -> Watermark | None:
    """A store shared by several machines: each local index copy records its own progress."""
    return FileWatermark(settings.index_dir / "watermark.json") if store.shared else None


def _search_indexes(
    settings: Settings, store: Store, vectors: VectorIndex | None
) -> tuple[SearchIndex, VectorBackend | None]:
    """The index the settings pick, and what searches its vectors.

    ``local``: tantivy in the home and the vectors in memory (with a shared store, a
    copy per machine); ``opensearch``: one cluster index holds both for every
    process (vectors are still embedded here, into the store).
    """
    if settings.index_backend == "opensearch":
        cluster = OpenSearchCluster(
            ClusterConfig.from_settings(settings),
            store,
            vectors.params() if vectors is not None else None,
        )
        found = OpenSearchVectors(cluster, vectors) if vectors is not None else None
        return OpenSearchLexical(cluster), found
    return LexicalIndex(settings.index_dir, store, lexical_watermark(settings, store)), vectors


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
        resolver: Resolver | None = None,
        background: bool = True,
    ) -> None:
        """Open the home ``settings.home``.

        Args:
            settings: the effective settings.
            clock: the current time (injected by tests; fetch times come from it).
            transport: an httpx transport for fetching (tests); default real network.
            resolver: host name resolution for fetching (tests); default the system's.
            background: whether this process keeps the home's indexes up (catches
                the lexical index and the embeddings up, writes the vector files and
                grows the graph). False for all but one of several server processes
                on one home: they read what that one writes (see :meth:`take_background`).
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
        self.background = background
        # Asked at each refresh by an engine without the background work: True when
        # this process may take it over (the server's lock file, newsdesk.web.workers).
        self.claim_background: Callable[[], bool] | None = None
        settings.home.mkdir(parents=True, exist_ok=True)
        self.store, self.feed_store, self.jobs, self.translation_store = open_store(settings)
        # The index is one cluster shared by every process (OpenSearch), or local: with
        # a shared store a per-machine copy that its readers (web servers, CLI commands)
        # catch up, applying deletions by their sequence number recorded beside it.
        self.index_is_shared = settings.index_backend == "opensearch"
        # Who indexes what it ingests: the only process on a SQLite store, and every
        # ingest into the shared cluster (one at a time, under the store's lock).
        self.index_on_ingest = self.index_is_shared or not self.store.shared
        # Whether an ingest waits for another process's embedding to finish first (a
        # worker between jobs does not: the other process embeds its documents too).
        self.embed_waits = True
        self._copy_deletions = FileWatermark(settings.index_dir / "deletions.json")
        self.summarizer = build_summarizer(settings)
        # Embeds documents into the store; searches them too with the local backend.
        self.vectors: VectorIndex | None = None
        if settings.embedder != NO_EMBEDDER:
            self.vectors = VectorIndex(
                self.store,
                EMBEDDERS[settings.embedder](settings),
                in_memory=settings.index_backend == "local",
                directory=settings.vector_dir,
                ann_threshold=settings.ann_threshold,
                ann_ef=settings.ann_ef,
                read_only=not background,
            )
            self.vectors.refresh()
        self.lexical: SearchIndex
        self.lexical, search_vectors = _search_indexes(settings, self.store, self.vectors)
        self._llm_summarizers: list[LLMSummarizer] = []
        self._translators: list[TranslationService] = []
        # Pages and `show` translate what is not cached yet, trying the endpoint once.
        self.translation = self.make_translation_service(read_path=True)
        self.reader = SummaryReader(self.store, self.summarizer, self.summaries_for)
        self._sources_cache: tuple[tuple[int, int], list[tuple[str, int]]] | None = None
        self._languages_cache: tuple[tuple[int, int], list[tuple[str, int]]] | None = None
        self._embed_lock = threading.Lock()
        # Chinese and English versions of one story become one story after embedding.
        self.link_languages = crosslingual_enabled(settings)
        self._catching_up = threading.Event()
        self.catch_up_error = ""
        # The latest deletion this engine has removed from its in-memory vectors.
        self._deletion_seq = self.store.deletion_seq()
        self._check_signatures()
        self.following = Following(
            settings, self.feed_store, self.fetcher, self.ingest_records, clock
        )
        # Index terms ingest workers computed for documents not yet indexed.
        self._terms: dict[str, IndexTerms] = {}
        # Documents a large ingest stored without their summary (see ``_store``).
        self._unsummarized: dict[str, Document] = {}
        self.clock = clock
        self._transport = transport
        self._resolver = resolver
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
                    relevance=relevance_model(settings),
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
        # Engines opening at once on a shared store: one recomputes, the others wait.
        with self._lock_wait("dedupe-signatures"):
            state = self.store.index_state(_DEDUPE_STATE)
            if state is None or state[1] != dedupe.PARAMS:
                self._recompute_signatures()

    @contextlib.contextmanager
    def _lock_wait(self, name: str, poll: float = 0.2) -> Iterator[None]:
        """Hold the store's named lock, waiting for another holder to let go."""
        while True:
            with self.store.try_lock(name) as held:
                if held:
                    yield
                    return
            time.sleep(poll)

    def _recompute_signatures(self) -> None:
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
        for service in self._translators:
            service.close()
        self._translators.clear()
        self.store.close()

    # -- ingest ------------------------------------------------------------------------
    def _front(self, record: RawRecord) -> IngestResult | _Front:
        """Validate one record (:meth:`_unless_unchanged` then skips it early if the
        store already has it as is)."""
        if record.fetched_at is None:
            # Relative publish times ("3小时前") in files count from when we read them.
            record = replace(record, fetched_at=self.clock())
        try:
            doc = build_document(record)
        except ExtractionError as exc:
            return IngestResult("failed", record.origin, reason=str(exc))
        note = ""
        now = record.fetched_at or self.clock()
        if doc.published_at is not None and not in_window(doc.published_at, now):
            note = (
                f"publish time {doc.published_at.isoformat()} is outside {window_text(now)};"
                " stored undated"
            )
            doc = replace(doc, published_at=None)
        return _Front(record, doc, note)

    @staticmethod
    def _unless_unchanged(item: _Front, stored_hash: str | None) -> IngestResult | _Front:
        if stored_hash == item.doc.content_hash:
            # Re-ingest (or a rerun after a crash): skip the costly steps.
            return IngestResult(
                "unchanged",
                item.record.origin,
                doc_id=item.doc.id,
                title=item.doc.title,
                note=item.note,
            )
        return item

    def _store(
        self, item: _Front, heavy: Heavy, grouping: _BatchGrouping | None = None
    ) -> tuple[IngestResult, Document]:
        """Group with a near-duplicate story, if any, and store (inside a transaction).

        ``grouping`` holds the band neighbours of the whole batch, looked up at once;
        without it the store is asked for this document's.
        """
        doc = item.doc
        ts = int(doc.published_at.timestamp()) if doc.published_at else None
        found = (
            self.store.story_candidates(heavy.bands, doc.id)
            if grouping is None
            else grouping.candidates(heavy.bands, doc.id)
        )
        candidates = [
            (story, dedupe.signature_from_bytes(blob))
            for _, story, blob, other_ts in found
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
        # Kept (a bounded number) for the summary catch-up after this run, which then
        # need not read them back from the store.
        kept = len(self._unsummarized) < UNSUMMARIZED_KEPT
        if heavy.summary is None and kept and stored.outcome in ("accepted", "updated"):
            self._unsummarized[doc.id] = doc
        if self.index_on_ingest and stored.outcome in ("accepted", "updated"):
            # Kept for this process's next index catch-up (cleared by it): the
            # document is not segmented a second time.
            self._terms[doc.id] = heavy.terms
        result = IngestResult(
            stored.outcome,
            item.record.origin,
            doc_id=stored.doc_id,
            title=doc.title,
            duplicate_of=stored.duplicate_of,
            note=item.note,
        )
        return result, doc

    def _store_one(
        self, item: _Front, heavy: Heavy, grouping: _BatchGrouping | None = None
    ) -> IngestResult:
        """:meth:`_store` inside a savepoint: a document the store cannot take fails
        alone, and the rest of its batch is kept."""
        try:
            with self.store.savepoint():
                result, doc = self._store(item, heavy, grouping)
        except StoreUnavailable:
            raise  # the store went away: the whole batch is undone, nothing is refused
        except (StoreError, ValueError, OverflowError) as exc:
            self._terms.pop(item.doc.id, None)
            self._unsummarized.pop(item.doc.id, None)
            return IngestResult(
                "failed", item.record.origin, doc_id=item.doc.id, reason=f"not stored: {exc}"
            )
        if grouping is not None and result.outcome in ("accepted", "updated"):
            # Later documents of the batch see this one as the store now holds it.
            grouping.add(doc, dedupe.signature_to_bytes(heavy.sig), heavy.bands)
        return result

    def ingest_record(self, record: RawRecord) -> IngestResult:
        """Validate, de-duplicate, summarize and store one record (not yet indexed)."""
        front = self._front(record)
        if isinstance(front, _Front):
            front = self._unless_unchanged(front, self.store.content_hash_of(front.doc.id))
        if isinstance(front, IngestResult):
            return front
        with self.store.transaction():
            return self._store(front, compute(front.doc, self.summarizer))[0]

    def _front_batch(self, batch: list[RawRecord | SourceProblem]) -> list[IngestResult | _Front]:
        slots: list[IngestResult | _Front] = []
        for item in batch:
            if isinstance(item, SourceProblem):
                outcome: Outcome = "skipped" if item.outcome == "skipped" else "failed"
                slots.append(IngestResult(outcome, item.origin, reason=item.reason))
            else:
                slots.append(self._front(item))
        # One lookup for the batch: documents the store already holds as they are.
        stored = self.store.content_hashes([s.doc.id for s in slots if isinstance(s, _Front)])
        return [
            self._unless_unchanged(s, stored.get(s.doc.id)) if isinstance(s, _Front) else s
            for s in slots
        ]

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
            work = {id(s): next(heavy) for s in slots if isinstance(s, _Front)}
            # The batch's band neighbours in the store, in one lookup (inside the
            # transaction: no other writer can add to them meanwhile).
            keys = [h.bands for h in work.values()]
            grouping = _BatchGrouping(self.store.band_neighbours(keys), keys)
            return [
                s if isinstance(s, IngestResult) else self._store_one(s, work[id(s)], grouping)
                for s in slots
            ]

    def ingest_records(
        self,
        records: Iterable[RawRecord | SourceProblem],
        progress: Callable[[IngestResult], None] | None = None,
        *,
        defer_embeddings: bool = False,
        embed_progress: Callable[[int], None] | None = None,
        defer_summaries: bool = False,
        summary_progress: Callable[[int], None] | None = None,
    ) -> IngestReport:
        """Ingest records in batches, index them, and embed them unless ``defer_embeddings``.

        Deferred documents are searchable lexically at once and semantically after
        :meth:`embed_pending` (``newsdesk embed``).

        Batches are pipelined: while one batch is written, the next is fingerprinted
        and segmented (on worker processes when the run spans several batches and
        ``ingest_workers`` allows). Long runs are indexed as they go, every
        ``INDEX_EVERY`` stored documents, so other processes' searches see them early.

        A run of one batch stores each document with its summary. A longer run stores
        and indexes documents first and then catches their summaries up
        (:meth:`summarize_pending`), unless ``defer_summaries`` leaves that to a
        background catch-up; a document shown or found meanwhile is summarized on the
        spot (:meth:`summaries_for`, :meth:`search`), so none is shown without one.
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
            if since_index >= INDEX_EVERY and self.index_on_ingest:
                report.indexed += self._index_if_free()
                since_index = 0

        if large and self.store.index_state(SUMMARIES_STATE) is None:
            # Until now every document came with its summary: the catch-up starts here
            # (and a crash before it finds the watermark, see :meth:`summaries_behind`).
            self.store.set_index_state(
                SUMMARIES_STATE, self.store.max_rev(), self._summary_params()
            )
        with Preparer(factory, self.summarizer, workers) as preparer:
            while current is not None:
                slots = self._front_batch(current)
                docs = [s.doc for s in slots if isinstance(s, _Front)]
                pending = preparer.submit(docs, background=large, summarize=not large)
                if in_flight is not None:
                    finish(*in_flight)
                in_flight = (slots, pending)
                current, upcoming = upcoming, next(batches, None)
            if in_flight is not None:
                finish(*in_flight)
            if self.index_on_ingest:
                report.indexed += self.index_when_free()
                report.index_deferred = self.lexical.pending() > 0
            if large and not defer_summaries:
                report.summarized = self._summarize_when_free(preparer, summary_progress)
        self._unsummarized.clear()
        if not defer_embeddings:
            report.embedded = self.embed_pending(embed_progress, wait=self.embed_waits)
        return report

    def summarize_pending(
        self, progress: Callable[[int], None] | None = None, *, wait: bool = True
    ) -> int:
        """Make the extractive summary of every document stored or changed since the
        last catch-up that has no current one; returns how many were made.

        Resumable like the index: a watermark in the store records how far it got.
        One process at a time (a lock in the store); with ``wait`` False, another
        process already catching up makes this a no-op (it goes on until nothing is
        left). Summaries of documents shown before their turn are made on demand.
        """
        with Preparer(
            functools.partial(build_summarizer, self.settings), self.summarizer, 1
        ) as preparer:
            if wait:
                with self._lock_wait("summaries"):
                    return self._summarize_since_watermark(preparer, progress)
            with self.store.try_lock("summaries") as held:
                return self._summarize_since_watermark(preparer, progress) if held else 0

    def _summarize_when_free(
        self, preparer: Preparer, progress: Callable[[int], None] | None
    ) -> int:
        """The summary catch-up at the end of an ingest, on its workers if it has them;
        if another process holds the catch-up for long, that one makes them."""
        attempts, wait = INDEX_BUSY_RETRIES
        for _ in range(attempts):
            with self.store.try_lock("summaries") as held:
                if held:
                    return self._summarize_since_watermark(preparer, progress)
            time.sleep(wait)
        return 0

    def _summary_params(self) -> dict[str, Any]:
        return {"summarizer": self.summarizer.name, "version": self.summarizer.version}

    def _summarize_since_watermark(
        self, preparer: Preparer, progress: Callable[[int], None] | None
    ) -> int:
        params = self._summary_params()
        state = self.store.index_state(SUMMARIES_STATE)
        if state is None or state[1] != params:
            # First catch-up in this home, or another summarizer version: look at all.
            self.store.set_index_state(SUMMARIES_STATE, 0, params)
            rev = 0
        else:
            rev = state[0]
        done = 0
        while rows := self.store.rows_since(rev, BATCH):
            made = self._missing_summaries([r.id for r in rows], preparer)
            if made:
                with self.store.transaction():
                    for summary in made:
                        self.store.put_summary(summary)
            done += len(made)
            rev = rows[-1].rev
            self.store.advance_index_state(SUMMARIES_STATE, rev, params)
            if progress is not None:
                progress(len(rows))
        return done

    def _missing_summaries(self, ids: Sequence[str], preparer: Preparer) -> list[Summary]:
        """Extractive summaries of those of ``ids`` without a current one (not stored)."""
        have = self.store.get_summaries(ids, self.summarizer.name)
        version = self.summarizer.version
        need = [i for i in ids if i not in have or have[i].prompt_version != version]
        if not need:
            return []
        docs = {i: d for i in need if (d := self._unsummarized.pop(i, None)) is not None}
        unknown = [i for i in need if i not in docs]
        if unknown:
            docs.update(self.store.get_documents(unknown))
        # One changed by another process since it was kept gets a summary that is not
        # current (its content hash differs); its newer revision is caught up next.
        return preparer.summarize([docs[i] for i in need if i in docs])

    def _on_demand(self, ids: Sequence[str], found: dict[str, Summary]) -> dict[str, Summary]:
        """``found`` with the extractive summary of each of ``ids`` it lacks, made now
        (a document stored by a large ingest whose summaries are still being caught
        up) and stored for next time."""
        missing = [i for i in ids if i not in found]
        if not missing:
            return found
        with Preparer(
            functools.partial(build_summarizer, self.settings), self.summarizer, 1
        ) as preparer:
            made = self._missing_summaries(missing, preparer)
        for summary in made:
            found[summary.doc_id] = summary
            # A store that refuses the write (read-only, gone) still shows the summary.
            with contextlib.suppress(StoreError):
                self.store.put_summary(summary)
        return found

    def _index_if_free(self) -> int:
        with contextlib.suppress(SearchIndexError, BackendUnavailable):
            return self.index_pending()
        return 0

    def index_when_free(self) -> int:
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

    def index_when_behind(self) -> int:
        """Catch the index up if the store says it is behind (0 when it is not, or when
        it cannot be now): for idle workers, so that documents a busy or unreachable
        cluster missed are indexed without waiting for the next ingest."""
        if not self.index_on_ingest or not self.lexical.behind():
            return 0
        with contextlib.suppress(SearchIndexError, BackendUnavailable):
            return self.index_pending()
        return 0

    def ingest_paths(
        self,
        paths: Iterable[Path],
        progress: Callable[[IngestResult], None] | None = None,
        *,
        defer_embeddings: bool = False,
        embed_progress: Callable[[int], None] | None = None,
        defer_summaries: bool = False,
        summary_progress: Callable[[int], None] | None = None,
    ) -> IngestReport:
        """Ingest files and folders (JSONL, text, Markdown, HTML, PDF), index and embed
        (see :meth:`ingest_records`)."""
        return self.ingest_records(
            iter_records(list(paths)),
            progress,
            defer_embeddings=defer_embeddings,
            embed_progress=embed_progress,
            defer_summaries=defer_summaries,
            summary_progress=summary_progress,
        )

    def fetcher(self) -> Fetcher:
        """An HTTP client with this home's limits (timeouts, size, redirects)."""
        s = self.settings
        limits = FetchLimits(
            timeout=s.fetch_timeout,
            max_bytes=s.fetch_max_bytes,
            max_redirects=s.fetch_max_redirects,
            user_agent=s.user_agent,
            allow_private=s.fetch_allow_private,
        )
        return Fetcher(limits, transport=self._transport, clock=self.clock, resolver=self._resolver)

    def ingest_inputs(
        self,
        inputs: Iterable[str | Path],
        progress: Callable[[IngestResult], None] | None = None,
        *,
        defer_embeddings: bool = False,
        embed_progress: Callable[[int], None] | None = None,
        defer_summaries: bool = False,
        summary_progress: Callable[[int], None] | None = None,
    ) -> IngestReport:
        """Ingest a mix of URLs (pages or feeds, fetched) and local files or folders
        (see :meth:`ingest_records`)."""
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
                defer_summaries=defer_summaries,
                summary_progress=summary_progress,
            )

    # -- feeds (newsdesk.following) ------------------------------------------------------
    def add_feed(self, target: str) -> tuple[FeedInfo, bool]:
        """Follow a feed by URL or file; see :meth:`Following.add`."""
        return self.following.add(target)

    def feeds(self) -> list[FeedInfo]:
        return self.feed_store.all()

    def remove_feed(self, target: str) -> bool:
        """Stop following a feed (its documents stay); False if it was not followed."""
        return self.following.remove(target)

    def poll_feeds(
        self,
        progress: Callable[[IngestResult], None] | None = None,
        backoff: timedelta | None = None,
    ) -> list[FeedPoll]:
        """Poll every followed feed once; see :meth:`Following.poll_all`."""
        return self.following.poll_all(progress, backoff)

    def ingest_sample(
        self,
        progress: Callable[[IngestResult], None] | None = None,
        *,
        defer_embeddings: bool = False,
        embed_progress: Callable[[int], None] | None = None,
        summary_progress: Callable[[int], None] | None = None,
    ) -> IngestReport:
        return self.ingest_paths(
            [sample_corpus_path()],
            progress,
            defer_embeddings=defer_embeddings,
            embed_progress=embed_progress,
            summary_progress=summary_progress,
        )

    def index_pending(self, progress: Callable[[int], None] | None = None) -> int:
        """Bring the search index up to date with the store: deletions, documents and
        (for a cluster) the vectors it holds.

        Raises:
            SearchIndexError: another process holds the index writer (or, for the
                cluster, is catching it up), or the cluster failed.
            BackendUnavailable: the cluster cannot be reached.
        """
        if self.index_is_shared:
            # The cluster applies the store's deletions itself, under its catch-up lock.
            pass
        elif self.store.shared:
            # Each machine's copy applies every deletion since the last it applied.
            seq = self.store.deletion_seq()
            applied = (self._copy_deletions.get() or (0, {}))[0]
            if seq > applied:
                self.lexical.delete(self.store.deleted_since(applied))
                self._copy_deletions.set(seq, {})
        else:
            pending = self.store.pending_deletions()
            if pending:
                self.lexical.delete(pending)
                self.store.mark_deletions_indexed(pending)
        done = self.lexical.catch_up(progress, self._terms)
        self._terms.clear()
        self.lexical.catch_up_vectors()
        return done

    def rebuild_index(self, progress: Callable[[int], None] | None = None) -> int:
        return self.lexical.rebuild(progress)

    def embed_pending(
        self, progress: Callable[[int], None] | None = None, *, wait: bool = True
    ) -> int:
        """Embed every document stored or changed since the last run; returns how many.

        Resumable: vectors are saved batch by batch with the watermark, so an
        interrupted run continues where it stopped. No-op without an embedder.
        With ``wait`` False, another process already embedding makes this a no-op,
        since that one goes on until nothing is left.

        Raises:
            BackendUnavailable: the embedder cannot run.
        """
        if self.vectors is None:
            return 0
        # One catch-up at a time: in this process (a server's background one and an API
        # ingest's), and across processes and machines (a lock in the store), so that
        # workers do not embed the same documents.
        with self._embed_lock:
            if wait:
                with self._lock_wait("embed"):
                    done = self._embed_and_link(progress)
            else:
                with self.store.try_lock("embed") as held:
                    done = self._embed_and_link(progress) if held else 0
        if self.index_is_shared:
            # A cluster that is down (or busy with another process's catch-up) gets
            # the vectors at its next catch-up.
            with contextlib.suppress(BackendUnavailable, SearchIndexError):
                self.lexical.catch_up_vectors()
        return done

    def _embed_and_link(self, progress: Callable[[int], None] | None) -> int:
        """Embed what is new, then merge new documents' stories with their versions in
        the other language (under the embedding lock: one process at a time)."""
        assert self.vectors is not None
        done = self.vectors.catch_up(progress)
        if not self.link_languages:
            return done
        if isinstance(self.searcher.vectors, OpenSearchVectors):
            # The cluster holds every process's vectors: send the new ones, then
            # search the nearest documents there. A cluster that is down (or busy
            # with another process's catch-up) pairs them at the next catch-up.
            with contextlib.suppress(BackendUnavailable, SearchIndexError):
                self.lexical.catch_up_vectors()
                near = self.searcher.vectors
                link_new_documents(self.store, self.vectors, near, near.cluster.vector_watermark)
        else:
            link_new_documents(self.store, self.vectors)
        return done

    def summaries_behind(self) -> bool:
        """Whether documents were stored since the summary catch-up last ran (cheap:
        two small queries, for a server's start)."""
        state = self.store.index_state(SUMMARIES_STATE)
        if state is None:
            return False  # no large ingest ever ran: every document came with its summary
        return state[1] != self._summary_params() or state[0] < self.store.max_rev()

    def catch_up_in_background(self) -> threading.Thread | None:
        """Embed, on a daemon thread, what a crash or a deferred ingest left without vectors,
        after summarizing what a crash or a ``defer_summaries`` ingest left unsummarized.

        For long-running processes (the web server): searches run meanwhile, hybrid
        over the documents embedded so far, and :attr:`catching_up` (``/health``)
        says so. Nothing starts when every document has its vector or the stored
        vectors belong to another embedder (that needs ``newsdesk embed --rebuild``).
        """
        if not self.background:
            return None  # another process on this home does it
        embed = not (self.vectors is None or self.vectors.stale_reason)
        # Not the count (pending_embeddings): it reads every vector row, 8 s at a
        # million documents out of the page cache, on the server's start path.
        embed = embed and self.vectors is not None and self.vectors.behind()
        summarize = self.summaries_behind()
        if not embed and not summarize:
            return None

        def run() -> None:
            try:
                if summarize:
                    # Summaries first: milliseconds each, and shown with every hit.
                    self.summarize_pending(wait=False)
                if embed:
                    self.embed_pending()
            except NewsdeskError as exc:
                self.catch_up_error = str(exc)
            finally:
                self._catching_up.clear()

        self._catching_up.set()
        thread = threading.Thread(target=run, name="newsdesk-embed-catch-up", daemon=True)
        thread.start()
        return thread

    def take_background(self) -> threading.Thread | None:
        """Become the process that keeps the home's indexes up (the one that did
        stopped): catch the lexical index up, write the vector files, and start the
        background catch-up; returns its thread, if one was needed."""
        if self.background:
            return None
        self.background = True
        with contextlib.suppress(SearchIndexError, BackendUnavailable):
            self.index_pending()
        if self.vectors is not None:
            self.vectors.read_only = False
            self.vectors.refresh()
        return self.catch_up_in_background()

    def warm_up(self, query: str = WARM_UP_QUERY) -> None:
        """Load now what the first search would load: the embedder's model, the vectors,
        the index readers, the summaries' code; by running one hybrid search and
        reading its summaries (in their original language: no translator is called).

        A long-running server calls this before it says it is ready, so that its first
        real query costs what any other does.
        """
        results = self.search(SearchRequest(query=query, limit=self.settings.default_limit))
        self.reader_summaries([h.document for h in results.hits], "original")

    @property
    def catching_up(self) -> bool:
        return self._catching_up.is_set()

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
        self._check_languages(request.langs)
        results = self.searcher.search(request)
        ids = [h.document.id for h in results.hits]
        preferred = self.summaries_for(ids, extractive=False)
        unsummarized = [h.document.id for h in results.hits if h.summary is None]
        if unsummarized:
            # Found before the summary catch-up reached them: summarized now.
            preferred = self._on_demand(unsummarized, dict(preferred))
        if not preferred:
            return results
        hits = tuple(
            replace(h, summary=preferred.get(h.document.id, h.summary)) for h in results.hits
        )
        return replace(results, hits=hits)

    def _check_languages(self, langs: Sequence[str]) -> None:
        """A language filter no document can match is a mistake to report, not zero hits."""
        if not langs:
            return
        here = {lang for lang, _ in self.languages()}
        unknown = [lang for lang in langs if lang not in here and lang not in LANGUAGES]
        if unknown:
            raise InputError(
                f"no documents in language {unknown[0]!r}: newsdesk detects "
                f"{', '.join(LANGUAGES)}; this home has {', '.join(sorted(here)) or 'none yet'}"
            )

    def languages(self) -> list[tuple[str, int]]:
        """Document languages with their counts (kept until the store changes)."""
        rev = (self.store.max_rev(), self.store.deletion_seq())
        cached = self._languages_cache
        if cached is None or cached[0] != rev:
            cached = (rev, self.store.languages())
            self._languages_cache = cached
        return cached[1]

    def refresh(self) -> None:
        """See documents other processes have stored, indexed or deleted since this engine
        opened.

        With a shared store this machine's index copy is caught up here first (unless
        another process on the machine holds its writer and is doing it). A shared
        cluster has no copy here: the processes that ingest catch it up (see
        :meth:`index_when_behind`), and a reader only notices a rebuild.
        """
        if not self.background and self.claim_background is not None and self.claim_background():
            self.take_background()
        if self.background and self.store.shared and not self.index_is_shared:
            with contextlib.suppress(SearchIndexError):
                self.index_pending()
        self.lexical.reload()
        if self.vectors is not None:
            seq = self.store.deletion_seq()
            if seq != self._deletion_seq:
                self.vectors.remove(self.store.deleted_since(self._deletion_seq))
                self._deletion_seq = seq
            self.vectors.refresh()

    # -- delete ------------------------------------------------------------------------
    def delete_documents(self, ids: Sequence[str]) -> tuple[list[Deletion], list[str]]:
        """Delete documents from the store and every index, recording each deletion.

        Returns the deletions made and the ids that were not found. The lexical
        index applies the deletion now, or (if another process holds its writer) at
        its next catch-up; searches never show a deleted document meanwhile, since
        results are read from the store. The same item may be ingested again later.
        """
        deleted = self.store.delete_documents(ids)
        gone = {d.doc_id for d in deleted}
        missing = [i for i in dict.fromkeys(ids) if i not in gone]
        if deleted:
            self._index_if_free()
            if self.vectors is not None:
                self.vectors.remove(sorted(gone))
        return deleted, missing

    def deletions(self, limit: int = 1000) -> list[Deletion]:
        """Documents deleted on request, newest first."""
        return self.store.deletions(limit)

    def document(self, doc_id: str) -> Document:
        doc = self.store.get_document(doc_id)
        if doc is None:
            raise NotFound("document", doc_id)
        return doc

    def summary(self, doc_id: str) -> Summary | None:
        """The extractive summary (made at ingest, by the catch-up after it, or now)."""
        found = self.store.get_summaries([doc_id], self.summarizer.name)
        return self._on_demand([doc_id], found).get(doc_id)

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
                out = self._on_demand(ids, out)
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

    # -- reading and translation -------------------------------------------------------
    def make_translation_service(
        self, name: str | None = None, *, read_path: bool = False
    ) -> TranslationService | None:
        """The configured translator (or ``name``) with this home's cache and limits;
        ``None`` when no translator is configured. It closes with the engine.

        Raises:
            ConfigError: the translator is named but not configured.
        """
        chosen = translator_name(self.settings, name)
        if chosen is None:
            return None
        s = self.settings
        try:
            translator = TRANSLATORS[chosen](s, 0 if read_path else s.translate_max_retries)
        except EndpointError as exc:
            raise ConfigError(f"translator {chosen}: {exc}") from exc
        service = TranslationService(
            translator,
            TranslationCache(self.translation_store),
            batch_size=s.translate_batch,
            concurrency=s.translate_concurrency,
            cooldown=s.translate_cooldown if read_path else 0.0,
        )
        self._translators.append(service)
        return service

    def reader_summaries(
        self, docs: Sequence[Document], language: str | None = None
    ) -> dict[str, ReaderSummary]:
        """Each document's summary as a reader of ``language`` (en, zh, original; default
        ``summary_language``) sees it: see :class:`newsdesk.reader.SummaryReader`."""
        lang = language or self.settings.summary_language
        return self.reader.summaries(docs, lang, self.translation)

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
        return summarize_batch(
            self.store,
            summarizer,
            self.summarizer,
            ids,
            concurrency=concurrency,
            force=force,
            progress=progress,
            give_up_after=give_up_after,
        )

    def other_sources(self, doc: Document) -> list[DuplicateRef]:
        members = self.store.story_members([doc.story_id]).get(doc.story_id, [])
        return [m for m in members if m.id != doc.id]

    def sources(self) -> list[tuple[str, int]]:
        """Known sources and how many documents each has, for filters.

        Counting scans every document, so the answer is kept until the store changes.
        """
        rev = (self.store.max_rev(), self.store.deletion_seq())
        cached = self._sources_cache
        if cached is None or cached[0] != rev:
            cached = (rev, self.store.sources())
            self._sources_cache = cached
        return cached[1]

    def status(self) -> dict[str, Any]:
        """Counts that tell the truth about every derived index, and where things are."""
        documents = self.store.count_documents()
        indexed = self.store.count_documents(self.lexical.watermark)
        embedded = self._embedded_count()
        queue = self.jobs.stats().to_json()
        return {
            "documents": documents,
            "indexed": indexed,
            "embedded": embedded,
            "not_indexed": documents - indexed,
            # Semantic search cannot find these yet (`newsdesk embed`, or a server's
            # catch-up); 0 when no embedder is configured.
            "without_vectors": documents - embedded if self.vectors is not None else 0,
            "deleted": self.store.count_deletions(),
            "summarized": self.store.count_summarized(self.summarizer.name),
            "summarized_llm": self.store.count_summarized(LLM_SUMMARIZER),
            "translations": self.translation_store.count_translations(),
            "stories": self.store.count_stories(),
            "feeds": queue["feeds"],
            "home": str(self.settings.home),
            "database": self.store.describe(),
            "schema_version": self.store.schema_version,
            "backends": {
                "store": self.store.kind,
                "lexical_index": "opensearch" if self.index_is_shared else "tantivy",
                "summarizer": self.summarizer.name,
                "translator": self.translation.label[0] if self.translation else "none",
                "embedder": self.vectors.embedder.id if self.vectors is not None else NO_EMBEDDER,
                "search_mode": self.settings.search_mode,
                "fusion": self.settings.fusion,
            },
            "vector_index": (self.vectors.stale_reason or "ok")
            if self.vectors is not None
            else "off",
            # How semantic search runs here: "graph" (HNSW, above ann_threshold),
            # "exact" (every vector scanned) or "elsewhere" (OpenSearch, no vectors).
            "vector_search": (
                "off"
                if self.vectors is None
                else "elsewhere"
                if not self.vectors.in_memory
                else "graph"
                if self.vectors.uses_graph
                else "exact"
            ),
            "queue": queue,
            "workers": [
                {**w.to_json(), "alive": w.heartbeat_age < WORKER_LOST_AFTER}
                for w in self.jobs.workers()
            ],
            "leases": [lease.to_json() for lease in self.jobs.leases()],
            # How far behind the inputs and the derived indexes are.
            "lag": {
                "index_documents": documents - indexed,
                "index_watermark": self.lexical.watermark_where(),
                "embedding_documents": documents - embedded if self.vectors is not None else 0,
                "oldest_due_job_s": queue["oldest_due_job_age_s"],
                "oldest_due_feed_s": queue["oldest_due_feed_age_s"],
            },
            "index": self.lexical.describe(),
        }

    def _embedded_count(self) -> int:
        if self.vectors is None or self.vectors.stale_reason:
            return 0
        return self.vectors.embedded()


def open_engine(settings: Settings, **kwargs: Any) -> Engine:
    """Open an engine and catch the index up with anything a crash left unindexed.

    Keyword arguments (``clock``, ``transport``, ``resolver``, ``background``) are passed
    to :class:`Engine`; an engine opened without ``background`` leaves the catch-up to
    the process that does it.
    """
    engine = Engine(settings, **kwargs)
    if not engine.background:
        return engine  # the process that does the background work indexes
    # If another process holds the index writer, it will index what it stored; a
    # cluster that is down is caught up at the next chance (searches say it is down).
    with contextlib.suppress(SearchIndexError, BackendUnavailable):
        engine.index_pending()
    return engine
