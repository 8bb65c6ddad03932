"""Render search results as an Atom 1.0 feed (RFC 4287), escaping every string."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from xml.sax.saxutils import escape, quoteattr

from newsdesk import __version__
from newsdesk.models import Hit, SearchResults

# Characters XML 1.0 forbids even when escaped.
_INVALID_XML = re.compile(r"[^\x09\x0a\x0d\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def _text(value: str) -> str:
    return escape(_INVALID_XML.sub("", value))


def _attr(value: str) -> str:
    return quoteattr(_INVALID_XML.sub("", value))


def _when(value: datetime | None) -> str:
    return (value or datetime(1970, 1, 1, tzinfo=UTC)).isoformat()


def _summary_text(hit: Hit) -> str:
    if hit.summary is None:
        return hit.document.paragraphs[0].text if hit.document.paragraphs else ""
    lines = []
    for section in hit.summary.sections:
        lines.append(section.title)
        for bullet in section.bullets:
            cites = "".join(f"[{c}]" for c in bullet.citations)
            lines.append(f"- {bullet.text} {cites}")
    return "\n".join(lines)


def render_atom(results: SearchResults, *, base_url: str, self_url: str, page_url: str) -> str:
    newest = max(
        (h.document.published_at for h in results.hits if h.document.published_at), default=None
    )
    out = [
        '<?xml version="1.0" encoding="utf-8"?>',
        '<feed xmlns="http://www.w3.org/2005/Atom">',
        f"<title>{_text('newsdesk: ' + results.query)}</title>",
        f"<id>{_text(self_url)}</id>",
        f'<link rel="self" href={_attr(self_url)}/>',
        f'<link rel="alternate" type="text/html" href={_attr(page_url)}/>',
        f"<updated>{_when(newest)}</updated>",
        f'<generator version="{__version__}">newsdesk</generator>',
    ]
    for hit in results.hits:
        doc = hit.document
        link = f"{base_url}/documents/{doc.id}"
        out += [
            "<entry>",
            f"<title>{_text(doc.title)}</title>",
            f"<id>{_text('urn:newsdesk:' + doc.id)}</id>",
            f'<link rel="alternate" type="text/html" href={_attr(link)}/>',
            f"<updated>{_when(doc.published_at)}</updated>",
        ]
        if doc.published_at:
            out.append(f"<published>{_when(doc.published_at)}</published>")
        out.append(f"<author><name>{_text(doc.source or 'unknown source')}</name></author>")
        if doc.url.startswith(("http://", "https://")):
            out.append(f'<link rel="via" href={_attr(doc.url)}/>')
        out.append(f'<summary type="text">{_text(_summary_text(hit))}</summary>')
        out.append("</entry>")
    out.append("</feed>")
    return "\n".join(out) + "\n"
