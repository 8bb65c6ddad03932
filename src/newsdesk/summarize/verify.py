"""Pure checks applied to every summary, whichever summarizer made it.

A bullet survives only if it cites at least one paragraph, every cited paragraph
exists, and every number in it is found in the paragraphs it cites. Numbers are
compared by value, so ``13亿欧元`` matches ``€1.3 billion`` and ``5万片`` matches
``50,000 wafers``.
"""

from __future__ import annotations

import re
from dataclasses import replace

from newsdesk.models import Bullet, Document, DroppedBullet, Section, Summary, Verification

_SCALES = {
    "万亿": 1e12,
    "亿": 1e8,
    "万": 1e4,
    "千": 1e3,
    "百": 1e2,
    "trillion": 1e12,
    "billion": 1e9,
    "bn": 1e9,
    "million": 1e6,
    "mn": 1e6,
    "thousand": 1e3,
}
_NUMBER = re.compile(
    r"(?<![0-9A-Za-z.])(\d{1,3}(?:,\d{3})+|\d+)(?:\.(\d+))?"
    r"\s*(万亿|亿|万|千|百|trillion|billion|bn|million|mn|thousand)?",
    re.IGNORECASE,
)


def numbers_in(text: str) -> list[tuple[str, set[float]]]:
    """Each number in ``text`` with the values it may stand for.

    ``1.3 billion`` stands for 1.3e9; a bare ``1.3`` stands for 1.3 only. A
    scaled number also stands for its unscaled figure, so "13亿" in a bullet is
    found in a paragraph that writes "13 亿".
    """
    out = []
    for m in _NUMBER.finditer(text):
        whole = m.group(1).replace(",", "")
        frac = m.group(2) or ""
        base = float(f"{whole}.{frac}" if frac else whole)
        values = {base}
        scale = (m.group(3) or "").lower()
        if scale:
            values.add(base * _SCALES[scale])
        out.append((m.group(0).strip(), values))
    return out


def _values(text: str) -> set[float]:
    found: set[float] = set()
    for _, values in numbers_in(text):
        found |= values
    return found


def _close(a: float, b: float) -> bool:
    return abs(a - b) <= 1e-9 * max(1.0, abs(a), abs(b))


def check_bullet(bullet: Bullet, document: Document) -> tuple[str, int]:
    """Return ``(reason, numbers_checked)``; an empty reason means the bullet is sound."""
    if not bullet.citations:
        return "cites no paragraph", 0
    missing = [c for c in bullet.citations if document.paragraph(c) is None]
    if missing:
        return f"cites paragraph(s) that do not exist: {missing}", 0
    cited = " ".join(p.text for c in bullet.citations if (p := document.paragraph(c)))
    available = _values(cited)
    numbers = numbers_in(bullet.text)
    for raw, values in numbers:
        if not any(_close(v, a) for v in values for a in available):
            return f"number {raw!r} not found in cited paragraph(s)", len(numbers)
    return "", len(numbers)


def verify(summary: Summary, document: Document) -> Summary:
    """Drop unsound bullets (and sections left empty) and record what was checked."""
    kept_sections: list[Section] = []
    dropped: list[DroppedBullet] = list(summary.verification.dropped)
    bullets_checked = citations_checked = numbers_checked = 0
    for section in summary.sections:
        kept: list[Bullet] = []
        for bullet in section.bullets:
            bullets_checked += 1
            citations_checked += len(bullet.citations)
            reason, n_numbers = check_bullet(bullet, document)
            numbers_checked += n_numbers
            if reason:
                dropped.append(DroppedBullet(bullet.text, bullet.citations, reason))
            else:
                kept.append(bullet)
        if kept:
            kept_sections.append(Section(section.title, tuple(kept)))
    return replace(
        summary,
        sections=tuple(kept_sections),
        verification=Verification(
            bullets_checked=bullets_checked,
            citations_checked=citations_checked,
            numbers_checked=numbers_checked,
            dropped=tuple(dropped),
        ),
    )
