"""Summaries as readers of a language see them, read from the store and translated.

:class:`SummaryReader` picks the summary to show (an LLM summary in the reader's
language when there is one, else the extractive one, made again when an older
summarizer made it), asks the translation service for what is not translated yet
and hands both to :func:`newsdesk.reading.read`, which checks every translation.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence

from newsdesk.models import Document, ReaderSummary, Summary, TranslateReport, TranslateResult
from newsdesk.reading import read, texts_to_translate
from newsdesk.store import Store
from newsdesk.summarize import Summarizer
from newsdesk.translate import ORIGINAL
from newsdesk.translate.service import TranslationService

SummariesFor = Callable[[Sequence[str], str], dict[str, Summary]]


class SummaryReader:
    """Reader-facing summaries of one home."""

    def __init__(self, store: Store, summarizer: Summarizer, summaries_for: SummariesFor) -> None:
        self.store = store
        self.summarizer = summarizer
        self.summaries_for = summaries_for

    def current(self, docs: Sequence[Document], found: dict[str, Summary]) -> dict[str, Summary]:
        """Extractive summaries made by an older summarizer are made again (milliseconds)."""
        for doc in docs:
            summary = found.get(doc.id)
            stale = summary is None or (
                summary.summarizer == self.summarizer.name
                and summary.prompt_version != self.summarizer.version
            )
            if stale and doc.paragraphs:
                found[doc.id] = self.summarizer.summarize(doc)
                self.store.put_summary(found[doc.id])
        return found

    def summaries(
        self,
        docs: Sequence[Document],
        language: str,
        translation: TranslationService | None,
    ) -> dict[str, ReaderSummary]:
        """The summary of each document as a reader of ``language`` (en, zh, original)
        sees it, translated sentence by sentence and checked when ``translation`` is
        given and the document is in another language."""
        found = self.current(docs, self.summaries_for([d.id for d in docs], language))
        translations: dict[str, dict[str, str]] = {}
        note = ""
        if translation is not None and language != ORIGINAL:
            items = [(d, found[d.id]) for d in docs if d.id in found]
            translations, note = translation.translate_for_reading(items, language)
        out = {}
        for doc in docs:
            summary = found.get(doc.id)
            if summary is None:
                continue
            got = translations.get(doc.id, {})
            complete = all(t in got for t in texts_to_translate(doc, summary))
            out[doc.id] = read(
                doc,
                summary,
                language,
                translations=got if translation is not None else None,
                translator=translation.label if translation is not None else None,
                note="" if complete else note,
            )
        return out

    def translate_documents(
        self,
        ids: Iterable[str],
        language: str,
        service: TranslationService,
        *,
        force: bool = False,
        progress: Callable[[TranslateResult], None] | None = None,
    ) -> TranslateReport:
        """Translate the summaries and titles of ``ids`` into ``language`` (cached)."""

        def items() -> Iterator[tuple[str, Document | None, Summary | None]]:
            for doc_id in ids:
                doc = self.store.get_document(doc_id)
                if doc is None:
                    yield doc_id, None, None
                    continue
                found = self.current([doc], self.summaries_for([doc_id], language))
                yield doc_id, doc, found.get(doc_id)

        return service.translate_documents(items(), language, force=force, progress=progress)
