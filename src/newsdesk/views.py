"""The public JSON shapes, shared by ``--json`` output and the HTTP API."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, date, datetime, timedelta
from typing import Any

from newsdesk.ingest.dates import in_window
from newsdesk.models import (
    Document,
    DuplicateRef,
    Hit,
    IngestReport,
    ReaderSummary,
    SearchResults,
    Summary,
)
from newsdesk.reading import snippet_repeats


def _time(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


_LANGUAGE_LABELS = {"en": "also in English", "zh": "也见中文"}


def also_in(lang: str) -> str:
    """How a story's version in ``lang`` is introduced ("also in English", "也见中文")."""
    return _LANGUAGE_LABELS.get(lang, f"also in {lang or 'another language'}")


def split_by_language(
    lang: str, refs: tuple[DuplicateRef, ...] | list[DuplicateRef]
) -> tuple[list[DuplicateRef], list[DuplicateRef]]:
    """A story's other documents: copies in ``lang`` (or of unknown language), and its
    versions in other languages."""
    same = [r for r in refs if not r.lang or not lang or r.lang == lang]
    other = [r for r in refs if r.lang and lang and r.lang != lang]
    return same, other


def duplicate_json(ref: DuplicateRef, lang: str = "") -> dict[str, Any]:
    """Another document of a story; ``other_language`` when it is the story's version
    in a language other than ``lang`` (the shown document's)."""
    return {
        "id": ref.id,
        "source": ref.source,
        "url": ref.url,
        "published_at": _time(ref.published_at),
        "lang": ref.lang,
        "title": ref.title,
        "other_language": bool(lang and ref.lang and ref.lang != lang),
    }


def summary_json(summary: Summary | None) -> dict[str, Any] | None:
    return summary.to_json() if summary is not None else None


def _document_fields(doc: Document) -> dict[str, Any]:
    return {
        "id": doc.id,
        "title": doc.title,
        "source": doc.source,
        "published_at": _time(doc.published_at),
        "url": doc.url,
        "lang": doc.lang,
        "category": doc.category,
    }


def reader_json(reader: ReaderSummary | None, summary: Summary | None) -> dict[str, Any] | None:
    """The summary as shown (with originals and translators) or, without one, as stored."""
    return reader.to_json() if reader is not None else summary_json(summary)


def _display_fields(doc: Document, reader: ReaderSummary | None) -> dict[str, Any]:
    return {
        "display_title": reader.title if reader is not None else doc.title,
        "display_title_translated": reader.title_translated if reader is not None else False,
    }


def why(hit: Hit) -> str:
    """Why a result is listed, in words: the query words it contains, or its meaning."""
    parts = []
    if hit.matched:
        parts.append("matches " + ", ".join(hit.matched))
    if hit.by_meaning:
        parts.append("close in meaning" if hit.matched else "by meaning")
    if not hit.confident:
        parts.append("less certain")
    return " · ".join(parts)


def hit_json(hit: Hit, reader: ReaderSummary | None = None) -> dict[str, Any]:
    return {
        **_document_fields(hit.document),
        **_display_fields(hit.document, reader),
        "score": round(hit.score, 4),
        "duplicates": [duplicate_json(d, hit.document.lang) for d in hit.duplicates],
        "summary": reader_json(reader, hit.summary),
        "snippet": hit.snippet,
        "snippet_highlights": [list(span) for span in hit.highlights],
        "matched": list(hit.matched),
        "by_meaning": hit.by_meaning,
        "confident": hit.confident,
        "why": why(hit),
        # True when a bullet already says what the snippet shows (pages then hide it).
        "snippet_repeats_summary": reader is not None
        and snippet_repeats(hit.snippet, reader.bullets),
    }


def search_json(
    results: SearchResults,
    readers: Mapping[str, ReaderSummary] | None = None,
    language: str = "",
) -> dict[str, Any]:
    """Search results; with ``readers`` each summary is the one shown in ``language``."""
    shown = readers or {}
    return {
        "query": results.query,
        "total": results.total,
        "listed": results.pages_of,
        "sort": results.sort,
        "retrieval": results.retrieval,
        "display_language": language,
        "results": [hit_json(h, shown.get(h.document.id)) for h in results.hits],
        "timeline": timeline(results.published),
    }


def document_json(
    doc: Document,
    summary: Summary | None,
    others: list[DuplicateRef],
    summary_errors: list[dict[str, str]] | None = None,
    reader: ReaderSummary | None = None,
) -> dict[str, Any]:
    return {
        **_document_fields(doc),
        **_display_fields(doc, reader),
        "story_id": doc.story_id,
        "paragraphs": [{"n": p.n, "text": p.text} for p in doc.paragraphs],
        "summary": reader_json(reader, summary),
        "duplicates": [duplicate_json(d, doc.lang) for d in others],
        # Why a requested summary (e.g. an LLM one) is missing; the summary shown is
        # then the extractive one.
        "summary_errors": summary_errors or [],
    }


def timeline(
    published: tuple[datetime | None, ...], now: datetime | None = None
) -> list[dict[str, Any]]:
    """Count documents per day, week, month or year (whichever gives a readable chart).

    Days are the documents' own calendar days (in the zone they were published in).
    Buckets with no documents between the first and the last are kept, so the
    chart's gaps are real. Only times inside the publish-time window count (a time
    stored before the window existed, such as 9999-12-31, is left out), so the
    number of buckets stays small and no date arithmetic can overflow.
    """
    moment = now or datetime.now(UTC)
    days = sorted(p.date() for p in published if p is not None and in_window(p, moment))
    if not days:
        return []
    span = (days[-1] - days[0]).days
    if span <= 45:

        def start_of(d: date) -> date:
            return d

        def next_of(d: date) -> date:
            return d + timedelta(days=1)
    elif span <= 366:

        def start_of(d: date) -> date:
            return d - timedelta(days=d.weekday())

        def next_of(d: date) -> date:
            return d + timedelta(days=7)
    elif span <= 15 * 366:

        def start_of(d: date) -> date:
            return d.replace(day=1)

        def next_of(d: date) -> date:
            return (d.replace(day=28) + timedelta(days=4)).replace(day=1)
    else:

        def start_of(d: date) -> date:
            return d.replace(month=1, day=1)

        def next_of(d: date) -> date:
            return d.replace(year=d.year + 1, month=1, day=1)

    counts: dict[date, int] = {}
    for d in days:
        key = start_of(d)
        counts[key] = counts.get(key, 0) + 1
    out = []
    cursor = start_of(days[0])
    while cursor <= days[-1]:
        nxt = next_of(cursor)
        out.append(
            {
                "start": cursor.isoformat(),
                "end": (nxt - timedelta(days=1)).isoformat(),
                "count": counts.get(cursor, 0),
            }
        )
        cursor = nxt
    return out


def ingest_json(report: IngestReport) -> dict[str, Any]:
    return {
        "counts": report.counts,
        "indexed": report.indexed,
        "index_deferred": report.index_deferred,
        "embedded": report.embedded,
        "accepted": [
            {"origin": r.origin, "id": r.doc_id, "outcome": r.outcome}
            for r in report.results
            if r.outcome in ("accepted", "updated")
        ],
        "problems": [
            {"origin": r.origin, "outcome": r.outcome, "reason": r.reason} for r in report.problems
        ],
        "duplicates": [
            {"origin": r.origin, "id": r.doc_id, "duplicate_of": r.duplicate_of}
            for r in report.results
            if r.outcome == "duplicate"
        ],
        "notes": [{"origin": r.origin, "id": r.doc_id, "note": r.note} for r in report.notes],
    }
