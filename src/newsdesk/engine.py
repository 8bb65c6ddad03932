"""The composition root: the one place that picks concrete backends.

Everything a user can do (ingest, search, show, status, rebuild) is a method of
:class:`Engine`; the CLI and the web app are thin layers over it.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable
from dataclasses import replace
from importlib import resources
from pathlib import Path
from types import TracebackType
from typing import Any

from newsdesk import dedupe
from newsdesk.config import Settings
from newsdesk.errors import ConfigError, ExtractionError, NotFound, SearchIndexError
from newsdesk.index.lexical import LexicalIndex
from newsdesk.ingest import RawRecord, build_document, iter_records
from newsdesk.ingest.sources import SourceProblem
from newsdesk.models import (
    Document,
    DuplicateRef,
    IngestReport,
    IngestResult,
    Outcome,
    SearchResults,
    Summary,
)
from newsdesk.search import Searcher, SearchPolicy, SearchRequest
from newsdesk.store import SQLiteStore
from newsdesk.summarize import Summarizer
from newsdesk.summarize.extractive import ExtractiveSummarizer

SUMMARIZERS: dict[str, Callable[[Settings], Summarizer]] = {
    "extractive": lambda s: ExtractiveSummarizer(ui_language=s.ui_language),
}


def sample_corpus_path() -> Path:
    """The bundled, illustrative sample corpus (written by the project)."""
    return Path(str(resources.files("newsdesk") / "sample" / "corpus.jsonl"))


class Engine:
    """One newsdesk home: its store, its index and its summarizer."""

    def __init__(self, settings: Settings) -> None:
        if settings.summarizer not in SUMMARIZERS:
            raise ConfigError(
                f"unknown summarizer {settings.summarizer!r}; choose from {', '.join(SUMMARIZERS)}"
            )
        self.settings = settings
        settings.home.mkdir(parents=True, exist_ok=True)
        self.store = SQLiteStore(settings.db_path)
        self.lexical = LexicalIndex(settings.index_dir, self.store)
        self.summarizer = SUMMARIZERS[settings.summarizer](settings)
        self._sources_cache: tuple[int, list[tuple[str, int]]] | None = None
        self.searcher = Searcher(
            lexical=self.lexical,
            documents=self.store,
            policy=SearchPolicy(
                relevance_floor=settings.relevance_floor,
                max_relevant=settings.max_relevant,
                summarizer=self.summarizer.name,
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
    ) -> IngestReport:
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
        return report

    def ingest_paths(
        self, paths: Iterable[Path], progress: Callable[[IngestResult], None] | None = None
    ) -> IngestReport:
        """Ingest files and folders (JSONL, text, Markdown, HTML), then index."""
        return self.ingest_records(iter_records(list(paths)), progress)

    def ingest_sample(self, progress: Callable[[IngestResult], None] | None = None) -> IngestReport:
        return self.ingest_paths([sample_corpus_path()], progress)

    def index_pending(self, progress: Callable[[int], None] | None = None) -> int:
        """Bring the lexical index up to date with the store."""
        return self.lexical.catch_up(progress)

    def rebuild_index(self, progress: Callable[[int], None] | None = None) -> int:
        return self.lexical.rebuild(progress)

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
            "summarized": self.store.count_summarized(self.summarizer.name),
            "stories": self.store.count_stories(),
            "home": str(self.settings.home),
            "database": str(self.settings.db_path),
            "schema_version": self.store.schema_version,
            "backends": {
                "store": "sqlite",
                "lexical_index": "tantivy",
                "summarizer": self.summarizer.name,
            },
        }


def open_engine(settings: Settings) -> Engine:
    """Open an engine and catch the index up with anything a crash left unindexed."""
    engine = Engine(settings)
    # If another process holds the index writer, it will index what it stored.
    with contextlib.suppress(SearchIndexError):
        engine.index_pending()
    return engine
