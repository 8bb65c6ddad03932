"""The composition root: the one place that picks concrete backends.

Everything a user can do (ingest, search, show, status, rebuild) is a method of
:class:`Engine`; the CLI and the web app are thin layers over it.
"""

from __future__ import annotations

import contextlib
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from importlib import resources
from pathlib import Path
from types import TracebackType
from typing import Any

from newsdesk import dedupe
from newsdesk.config import Settings
from newsdesk.embed import Embedder
from newsdesk.embed.hashing import HashingEmbedder
from newsdesk.embed.http import HTTPEmbedder
from newsdesk.embed.local import E5Embedder, USEEmbedder
from newsdesk.errors import ConfigError, ExtractionError, NotFound, SearchIndexError
from newsdesk.index.lexical import LexicalIndex
from newsdesk.index.vectors import VectorIndex
from newsdesk.ingest import RawRecord, build_document, iter_records
from newsdesk.ingest.sources import SourceProblem
from newsdesk.models import (
    Document,
    DuplicateRef,
    IngestResult,
    Outcome,
    SearchResults,
    Summary,
)
from newsdesk.ranking import FusionParams
from newsdesk.search import Searcher, SearchPolicy, SearchRequest
from newsdesk.store import SQLiteStore
from newsdesk.summarize import Summarizer
from newsdesk.summarize.extractive import ExtractiveSummarizer

SUMMARIZERS: dict[str, Callable[[Settings], Summarizer]] = {
    "extractive": lambda s: ExtractiveSummarizer(ui_language=s.ui_language),
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


@dataclass
class IngestReport:
    """Outcomes of one ingest run, in input order."""

    results: list[IngestResult] = field(default_factory=list)
    indexed: int = 0
    embedded: int = 0

    @property
    def counts(self) -> dict[str, int]:
        c = Counter(r.outcome for r in self.results)
        return {
            k: c.get(k, 0)
            for k in ("accepted", "updated", "unchanged", "duplicate", "skipped", "failed")
        }

    @property
    def problems(self) -> list[IngestResult]:
        return [r for r in self.results if r.outcome in ("failed", "skipped")]


class Engine:
    """One newsdesk home: its store, its index and its summarizer."""

    def __init__(self, settings: Settings) -> None:
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
        self.lexical = LexicalIndex(settings.index_dir, self.store)
        self.summarizer = SUMMARIZERS[settings.summarizer](settings)
        self.vectors: VectorIndex | None = None
        if settings.embedder != NO_EMBEDDER:
            self.vectors = VectorIndex(self.store, EMBEDDERS[settings.embedder](settings))
            self.vectors.refresh()
        self.searcher = Searcher(
            lexical=self.lexical,
            documents=self.store,
            vectors=self.vectors,
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
        self.store.close()

    # -- ingest ------------------------------------------------------------------------
    def ingest_record(self, record: RawRecord) -> IngestResult:
        """Validate, de-duplicate, summarize and store one record (not yet indexed)."""
        try:
            doc = build_document(record)
        except ExtractionError as exc:
            return IngestResult("failed", record.origin, reason=str(exc))
        sig, n_shingles = dedupe.fingerprint(p.text for p in doc.paragraphs)
        bands = dedupe.band_keys(sig) if n_shingles >= dedupe.MIN_SHINGLES else []
        candidates = [
            (story, dedupe.signature_from_bytes(blob))
            for _, story, blob in self.store.story_candidates(bands, exclude=doc.id)
            if blob
        ]
        match = dedupe.best_match(sig, candidates)
        story_id = match[0] if match else doc.id
        doc = replace(doc, story_id=story_id)
        summary = self.summarizer.summarize(doc)
        stored = self.store.put(
            doc,
            minhash=dedupe.signature_to_bytes(sig),
            bands=bands,
            summary=summary,
            origin=record.origin,
        )
        return IngestResult(
            stored.outcome,
            record.origin,
            doc_id=stored.doc_id,
            title=doc.title,
            duplicate_of=stored.duplicate_of,
        )

    def ingest_records(
        self,
        records: Iterable[RawRecord | SourceProblem],
        progress: Callable[[IngestResult], None] | None = None,
        *,
        defer_embeddings: bool = False,
        embed_progress: Callable[[int], None] | None = None,
    ) -> IngestReport:
        """Ingest records, index them, and embed them unless ``defer_embeddings``.

        Deferred documents are searchable lexically at once and semantically after
        :meth:`embed_pending` (``newsdesk embed``).
        """
        report = IngestReport()
        for item in records:
            if isinstance(item, SourceProblem):
                outcome: Outcome = "skipped" if item.outcome == "skipped" else "failed"
                result = IngestResult(outcome, item.origin, reason=item.reason)
            else:
                result = self.ingest_record(item)
            report.results.append(result)
            if progress is not None:
                progress(result)
        report.indexed = self.index_pending()
        if not defer_embeddings:
            report.embedded = self.embed_pending(embed_progress)
        return report

    def ingest_paths(
        self,
        paths: Iterable[Path],
        progress: Callable[[IngestResult], None] | None = None,
        *,
        defer_embeddings: bool = False,
        embed_progress: Callable[[int], None] | None = None,
    ) -> IngestReport:
        """Ingest files and folders (JSONL, text, Markdown, HTML), then index and embed."""
        return self.ingest_records(
            iter_records(list(paths)),
            progress,
            defer_embeddings=defer_embeddings,
            embed_progress=embed_progress,
        )

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
        """Bring the lexical index up to date with the store."""
        return self.lexical.catch_up(progress)

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
        return self.vectors.catch_up(progress)

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
        if isinstance(request, str):
            request = SearchRequest(
                query=request, sort=self.settings.default_sort, limit=self.settings.default_limit
            )
        return self.searcher.search(request)

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
        return self.store.get_summaries([doc_id], self.summarizer.name).get(doc_id)

    def other_sources(self, doc: Document) -> list[DuplicateRef]:
        members = self.store.story_members([doc.story_id]).get(doc.story_id, [])
        return [m for m in members if m.id != doc.id]

    def status(self) -> dict[str, Any]:
        documents = self.store.count_documents()
        watermark = self.lexical.watermark
        return {
            "documents": documents,
            "indexed": self.store.count_documents(watermark),
            "embedded": self._embedded_count(),
            "summarized": self.store.count_summarized(self.summarizer.name),
            "stories": self.store.count_stories(),
            "home": str(self.settings.home),
            "database": str(self.settings.db_path),
            "schema_version": self.store.schema_version,
            "backends": {
                "store": "sqlite",
                "lexical_index": "tantivy",
                "summarizer": self.summarizer.name,
                "embedder": self.vectors.embedder.id if self.vectors is not None else NO_EMBEDDER,
                "search_mode": self.settings.search_mode,
                "fusion": self.settings.fusion,
            },
            "vector_index": (self.vectors.stale_reason or "ok")
            if self.vectors is not None
            else "off",
        }

    def _embedded_count(self) -> int:
        if self.vectors is None or self.vectors.stale_reason:
            return 0
        return self.store.count_embedded()


def open_engine(settings: Settings) -> Engine:
    """Open an engine and catch the index up with anything a crash left unindexed."""
    engine = Engine(settings)
    # If another process holds the index writer, it will index what it stored.
    with contextlib.suppress(SearchIndexError):
        engine.index_pending()
    return engine
