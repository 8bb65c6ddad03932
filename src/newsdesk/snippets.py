"""Query-word snippets: the best window of a document, with plain character offsets.

Offsets, not markup: the caller decides how to highlight (the web UI escapes the
text and wraps the spans; the CLI styles them), so article text never travels as
HTML.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from newsdesk.models import Document

WIDTH = 160


@dataclass(frozen=True, slots=True)
class Snippet:
    text: str
    highlights: tuple[tuple[int, int], ...] = ()


def _pattern(terms: Sequence[str]) -> re.Pattern[str] | None:
    parts = []
    for term in sorted(set(terms), key=len, reverse=True):
        if not term:
            continue
        if term.isascii():
            # Index terms are lower-cased and plural-folded: "control" must light up
            # "Controls" too, but not the inside of another word.
            parts.append(rf"\b{re.escape(term)}\w*")
        else:
            parts.append(re.escape(term))
    if not parts:
        return None
    return re.compile("|".join(parts), re.IGNORECASE)


def _lead(paragraphs: list[str], width: int) -> Snippet:
    lead = paragraphs[0] if paragraphs else ""
    return Snippet(lead[:width] + ("…" if len(lead) > width else ""))


def make_snippet(doc: Document, terms: Sequence[str], width: int = WIDTH) -> Snippet:
    """The ``width``-character window of the body holding the most query words.

    A document that matched only by meaning (no query word in its text) gets its lead.
    """
    paragraphs = [p.text for p in doc.paragraphs]
    pattern = _pattern(terms)
    best: tuple[int, int, int] | None = None  # (matches, paragraph, start)
    if pattern is None:
        return _lead(paragraphs, width)
    for i, text in enumerate(paragraphs):
        spans = [m.span() for m in pattern.finditer(text)]
        if not spans:
            continue
        # Windows start a little before each match so the word has context.
        for start, _ in spans:
            lo = max(0, start - width // 4)
            count = sum(1 for s, e in spans if s >= lo and e <= lo + width)
            if best is None or count > best[0]:
                best = (count, i, lo)
    if best is None:
        return _lead(paragraphs, width)
    return _window(paragraphs[best[1]], best[2], width, pattern)


def _window(source: str, lo: int, width: int, pattern: re.Pattern[str]) -> Snippet:
    window = source[lo : lo + width]
    prefix = "…" if lo > 0 else ""
    suffix = "…" if lo + width < len(source) else ""
    spans = tuple(
        (m.start() + len(prefix), m.end() + len(prefix)) for m in pattern.finditer(window)
    )
    return Snippet(prefix + window + suffix, spans)


def matched_terms(doc: Document, terms: Sequence[str]) -> tuple[str, ...]:
    """The query words that occur in the document's title or text, in query order."""
    haystack = f"{doc.title}\n{doc.text}"
    found = []
    for term in dict.fromkeys(terms):
        pattern = _pattern([term])
        if pattern is not None and pattern.search(haystack):
            found.append(term)
    return tuple(found)
