"""Summarize many documents: a bounded thread pool, the cache, one failure per document.

Only the calling thread touches the store; workers only summarize. One document's
failure never stops the batch: it is recorded (and shown with the document) while
the document keeps its offline summary. An endpoint that cannot be reached for
``give_up_after`` documents in a row is not tried for the rest, which are reported as
not tried (and left for a re-run, which reuses what is cached).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait

from newsdesk.errors import EndpointError, InputError, NewsdeskError
from newsdesk.models import Document, SummarizeReport, SummarizeResult, Summary
from newsdesk.store import Store, SummaryFailure
from newsdesk.summarize import Summarizer

LLM = "llm"

Finish = Callable[[SummarizeResult, BaseException | None], None]


def cached_summary(
    store: Store, summarizer: Summarizer, doc: Document, language: str, model: str
) -> Summary | None:
    """The stored summary this summarizer would make of ``doc`` now, if there is one."""
    if summarizer.name == LLM:
        return store.get_summary(doc.id, summarizer.name, language, model, summarizer.version)
    found = store.get_summaries([doc.id], summarizer.name).get(doc.id)
    return found if found is not None and found.prompt_version == summarizer.version else None


def summarize_batch(
    store: Store,
    summarizer: Summarizer,
    fallback: Summarizer,
    ids: Iterable[str],
    *,
    concurrency: int = 1,
    force: bool = False,
    progress: Callable[[SummarizeResult], None] | None = None,
    give_up_after: int = 3,
) -> SummarizeReport:
    """Summarize ``ids`` with ``summarizer``; ``fallback`` (offline) covers failures."""
    if concurrency < 1:
        raise InputError("concurrency must be at least 1")
    model = getattr(summarizer, "model", "")
    language = getattr(summarizer, "language", "")
    report = SummarizeReport(summarizer.name, language, model)
    pending: dict[Future[Summary], Document] = {}
    unreachable = [0]  # consecutive documents that failed for want of a connection

    def finish(result: SummarizeResult, cause: BaseException | None = None) -> None:
        if result.outcome == "failed":
            down = isinstance(cause, EndpointError) and cause.unreachable
            unreachable[0] = unreachable[0] + 1 if down else 0
        elif result.outcome == "summarized":
            unreachable[0] = 0
        report.results.append(result)
        if progress is not None:
            progress(result)

    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        for doc_id in ids:
            if unreachable[0] >= give_up_after:
                finish(SummarizeResult(doc_id, "not_tried", "the endpoint is unreachable"))
                continue
            doc = store.get_document(doc_id)
            if doc is None:
                finish(SummarizeResult(doc_id, "missing", "no such document"))
                continue
            cached = None if force else cached_summary(store, summarizer, doc, language, model)
            if cached is not None:
                finish(SummarizeResult(doc_id, "cached"))
                continue
            pending[pool.submit(summarizer.summarize, doc)] = doc
            while len(pending) >= concurrency:
                _collect(store, pending, summarizer, fallback, finish)
        while pending:
            _collect(store, pending, summarizer, fallback, finish)
    return report


def _collect(
    store: Store,
    pending: dict[Future[Summary], Document],
    summarizer: Summarizer,
    fallback: Summarizer,
    finish: Finish,
) -> None:
    done, _ = wait(list(pending), return_when=FIRST_COMPLETED)
    for future in done:
        doc = pending.pop(future)
        try:
            summary = future.result()
        except Exception as exc:
            # Deliberately broad: a summarizer bug on one document must not stop the batch.
            reason = str(exc) if isinstance(exc, NewsdeskError) else f"{type(exc).__name__}: {exc}"
            _record_failure(store, summarizer, fallback, doc, reason)
            finish(SummarizeResult(doc.id, "failed", reason), exc)
            continue
        store.put_summary(summary)
        finish(
            SummarizeResult(
                doc.id,
                "summarized",
                dropped=len(summary.verification.dropped),
                repaired=summary.verification.repaired,
            ),
            None,
        )


def _record_failure(
    store: Store, summarizer: Summarizer, fallback: Summarizer, doc: Document, reason: str
) -> None:
    store.put_summary_error(
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
    if not store.get_summaries([doc.id], fallback.name):
        store.put_summary(fallback.summarize(doc))
