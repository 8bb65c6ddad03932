"""Translations on demand and in bulk: cache first, then batches with bounded concurrency.

Texts already translated (by this backend and model, into this language) come from
the SQLite cache; the rest are sent in batches of ``batch_size``, at most
``concurrency`` at a time, and what comes back is cached. A page that asks must
never hang on a dead translator: after a failed attempt (unreachable, timed out,
rate limited) reads skip the translator for ``cooldown`` seconds and show the
original with a note, while ``newsdesk translate`` (bulk) retries with back-off and
records a failure per document without stopping the batch.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from newsdesk.errors import TranslationError
from newsdesk.models import Document, Summary, TranslateReport, TranslateResult
from newsdesk.reading import read, texts_to_translate
from newsdesk.store.translations import TranslationCache, TranslationKey
from newsdesk.translate import ORIGINAL, Translator, source_language


@dataclass(frozen=True, slots=True)
class Outcome:
    """Translations found or made for some texts, and what went wrong if anything."""

    translations: dict[str, str]
    made: int = 0
    error: str = ""
    unreachable: bool = False


def _batches(texts: Sequence[str], size: int) -> list[list[str]]:
    return [list(texts[i : i + size]) for i in range(0, len(texts), size)]


class TranslationService:
    """Translate texts through one translator, with the cache and the limits of a home."""

    def __init__(
        self,
        translator: Translator,
        cache: TranslationCache,
        *,
        batch_size: int = 16,
        concurrency: int = 4,
        cooldown: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.translator = translator
        self.cache = cache
        self.batch_size = max(1, batch_size)
        self.concurrency = max(1, concurrency)
        self.cooldown = cooldown
        self.clock = clock
        self._down_until = 0.0
        self._down_reason = ""
        self._lock = threading.Lock()

    @property
    def label(self) -> tuple[str, str]:
        return self.translator.name, self.translator.model

    def close(self) -> None:
        self.translator.close()

    def _key(self, source: str, target: str) -> TranslationKey:
        return TranslationKey(source, target, self.translator.name, self.translator.model)

    def down(self) -> str:
        """Why reads skip the translator now ("" when they do not)."""
        with self._lock:
            return self._down_reason if self.clock() < self._down_until else ""

    def _mark_down(self, error: TranslationError) -> None:
        if error.retryable or error.unreachable:
            with self._lock:
                self._down_until = self.clock() + self.cooldown
                self._down_reason = str(error)

    def translate(
        self, texts: Iterable[str], source: str, target: str, *, fresh: bool = False
    ) -> Outcome:
        """Cached translations of ``texts`` and new ones for the rest (all, if ``fresh``).

        Never raises for a failing backend: the outcome carries the error, and the
        texts it could not translate are simply missing.
        """
        wanted = list(dict.fromkeys(t for t in texts if t.strip()))
        key = self._key(source, target)
        found = {} if fresh else self.cache.get(key, wanted)
        missing = [t for t in wanted if t not in found]
        if not missing:
            return Outcome(found)
        made: dict[str, str] = {}
        errors: list[TranslationError] = []

        def run(batch: list[str]) -> None:
            try:
                answers = self.translator.translate(batch, source, target)
            except TranslationError as exc:
                errors.append(exc)
                return
            made.update({t: a for t, a in zip(batch, answers, strict=False) if a})

        batches = _batches(missing, self.batch_size)
        if len(batches) == 1:
            run(batches[0])
        else:
            with ThreadPoolExecutor(max_workers=min(self.concurrency, len(batches))) as pool:
                list(pool.map(run, batches))
        self.cache.put(key, made)
        for error in errors:
            self._mark_down(error)
        return Outcome(
            {**found, **made},
            len(made),
            str(errors[0]) if errors else "",
            any(e.unreachable for e in errors),
        )

    def translate_for_reading(
        self, items: Sequence[tuple[Document, Summary]], target: str
    ) -> tuple[dict[str, dict[str, str]], str]:
        """Translations for showing ``items`` in ``target``, by document id, and a note.

        While the translator is cooling down after a failure only cached translations
        are used, so a page never waits on a dead endpoint.
        """
        wanted: dict[str, list[str]] = {}  # source language -> texts
        per_doc: dict[str, tuple[str, list[str]]] = {}
        for document, summary in items:
            if target == ORIGINAL or document.lang == target:
                continue
            source = source_language(document.lang)
            texts = texts_to_translate(document, summary)
            per_doc[document.id] = (source, texts)
            wanted.setdefault(source, []).extend(texts)
        reason = self.down()
        out: dict[str, dict[str, str]] = {}
        note = ""
        for source, texts in wanted.items():
            if reason:
                found = self.cache.get(self._key(source, target), texts)
                error = reason
            else:
                outcome = self.translate(texts, source, target)
                found, error = outcome.translations, outcome.error
            if error:
                note = f"translation failed ({error}) — showing the original"
            for doc_id, (src, doc_texts) in per_doc.items():
                if src == source:
                    out[doc_id] = {t: found[t] for t in doc_texts if t in found}
        return out, note

    def translate_documents(
        self,
        items: Iterable[tuple[str, Document | None, Summary | None]],
        target: str,
        *,
        force: bool = False,
        progress: Callable[[TranslateResult], None] | None = None,
        give_up_after: int = 3,
    ) -> TranslateReport:
        """Translate the summaries and titles of many documents into ``target`` (bulk).

        A document whose batch fails is recorded as failed and the run goes on; after
        ``give_up_after`` documents in a row fail for want of a connection, the rest
        are not tried (reported, and left for a re-run, which reuses the cache).
        """
        name, model = self.label
        report = TranslateReport(name, model, target)
        unreachable = 0

        def finish(result: TranslateResult) -> None:
            report.results.append(result)
            if progress is not None:
                progress(result)

        for doc_id, document, summary in items:
            if document is None:
                finish(TranslateResult(doc_id, "missing", "no such document"))
                continue
            if document.lang == target or summary is None:
                finish(TranslateResult(doc_id, "skipped", "already in that language"))
                continue
            if unreachable >= give_up_after:
                finish(TranslateResult(doc_id, "not_tried", "the translator is unreachable"))
                continue
            source = source_language(document.lang)
            texts = texts_to_translate(document, summary)
            outcome = self.translate(texts, source, target, fresh=force)
            shown = read(
                document,
                summary,
                target,
                translations=outcome.translations,
                translator=self.label,
            )
            in_original = sum(bool(b.problem) for b in shown.bullets)
            if outcome.error and len(outcome.translations) < len(texts):
                unreachable = unreachable + 1 if outcome.unreachable else 0
                finish(TranslateResult(doc_id, "failed", outcome.error, in_original))
                continue
            unreachable = 0
            kind = "translated" if outcome.made else "cached"
            finish(TranslateResult(doc_id, kind, "", in_original))
        return report
