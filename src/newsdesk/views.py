"""The public JSON shapes, shared by ``--json`` output and the HTTP API."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from newsdesk.models import Document, DuplicateRef, Hit, SearchResults, Summary


def _time(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def duplicate_json(ref: DuplicateRef) -> dict[str, Any]:
    return {
        "id": ref.id,
        "source": ref.source,
        "url": ref.url,
        "published_at": _time(ref.published_at),
    }


def summary_json(summary: Summary | None) -> dict[str, Any] | None:
    return summary.to_json() if summary is not None else None


def hit_json(hit: Hit) -> dict[str, Any]:
    doc = hit.document
    return {
        "id": doc.id,
        "title": doc.title,
        "source": doc.source,
        "published_at": _time(doc.published_at),
        "url": doc.url,
        "lang": doc.lang,
        "category": doc.category,
        "score": round(hit.score, 4),
        "duplicates": [duplicate_json(d) for d in hit.duplicates],
        "summary": summary_json(hit.summary),
        "snippet": hit.snippet,
        "snippet_highlights": [list(span) for span in hit.highlights],
    }


def search_json(results: SearchResults) -> dict[str, Any]:
    return {
        "query": results.query,
        "total": results.total,
        "sort": results.sort,
        "retrieval": results.retrieval,
        "results": [hit_json(h) for h in results.hits],
    }


def document_json(
    doc: Document, summary: Summary | None, others: list[DuplicateRef]
) -> dict[str, Any]:
    return {
        "id": doc.id,
        "title": doc.title,
        "source": doc.source,
        "published_at": _time(doc.published_at),
        "url": doc.url,
        "lang": doc.lang,
        "category": doc.category,
        "story_id": doc.story_id,
        "paragraphs": [{"n": p.n, "text": p.text} for p in doc.paragraphs],
        "summary": summary_json(summary),
        "duplicates": [duplicate_json(d) for d in others],
    }
