"""The composition root: the one place that picks concrete backends.

Everything a user can do (ingest, search, show, status, rebuild) is a method of
:class:`Engine`; the CLI and the web app are thin layers over it.
"""

from __future__ import annotations

import contextlib
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field, replace
from importlib import resources
from pathlib import Path
from types import TracebackType
from typing import Any

from newsdesk import dedupe
from newsdesk.config import Settings
from newsdesk.errors import (
    ConfigError,
    ExtractionError,
    InputError,
    LLMError,
    NewsdeskError,
    NotFound,
    SearchIndexError,
)
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
from newsdesk.store import SQLiteStore, SummaryFailure
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


def sample_corpus_path() -> Path:
    """The bundled, illustrative sample corpus (written by the project)."""
    return Path(str(resources.files("newsdesk") / "sample" / "corpus.jsonl"))


@dataclass(frozen=True, slots=True)
class SummarizeResult:
    """The outcome of summarizing one document: a value, never an exception."""

    doc_id: str
    outcome: str  # summarized | cached | failed | not_tried | missing
    reason: str = ""
    dropped: int = 0
    repaired: int = 0


@dataclass
class SummarizeReport:
    summarizer: str
    language: str
    model: str = ""
    results: list[SummarizeResult] = field(default_factory=list)

    @property
    def counts(self) -> dict[str, int]:
        c = Counter(r.outcome for r in self.results)
        return {k: c.get(k, 0) for k in ("summarized", "cached", "failed", "not_tried", "missing")}

    def to_json(self) -> dict[str, Any]:
        return {
            "summarizer": self.summarizer,
            "language": self.language,
            "model": self.model,
            "counts": self.counts,
            "dropped_bullets": sum(r.dropped for r in self.results),
            "repaired_bullets": sum(r.repaired for r in self.results),
            "failures": [
                {"id": r.doc_id, "outcome": r.outcome, "reason": r.reason}
                for r in self.results
                if r.outcome in ("failed", "not_tried", "missing")
            ],
        }


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
        self.summarizer = _extractive(settings, "")
        self._llm_summarizers: list[LLMSummarizer] = []
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
        for llm in self._llm_summarizers:
            llm.close()
        self._llm_summarizers.clear()
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
            "summarized": self.store.count_summarized(self.summarizer.name),
            "summarized_llm": self.store.count_summarized(LLM_SUMMARIZER),
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
