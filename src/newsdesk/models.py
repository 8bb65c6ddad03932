"""Plain data shared by every stage of the pipeline: frozen dataclasses, no I/O."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

Outcome = Literal["accepted", "updated", "unchanged", "duplicate", "skipped", "failed"]


@dataclass(frozen=True, slots=True)
class Paragraph:
    """One paragraph of a document; ``n`` counts from 1 in reading order."""

    n: int
    text: str


@dataclass(frozen=True, slots=True)
class Document:
    """A normalized article, ready to store."""

    id: str
    title: str
    paragraphs: tuple[Paragraph, ...]
    source: str = ""
    url: str = ""
    published_at: datetime | None = None
    lang: str = ""
    category: str = ""
    content_hash: str = ""
    story_id: str = ""

    @property
    def text(self) -> str:
        return "\n\n".join(p.text for p in self.paragraphs)

    def paragraph(self, n: int) -> Paragraph | None:
        if 1 <= n <= len(self.paragraphs):
            return self.paragraphs[n - 1]
        return None


@dataclass(frozen=True, slots=True)
class Bullet:
    text: str
    citations: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class Section:
    title: str
    bullets: tuple[Bullet, ...]


@dataclass(frozen=True, slots=True)
class DroppedBullet:
    text: str
    citations: tuple[int, ...]
    reason: str


@dataclass(frozen=True, slots=True)
class Verification:
    """What the verifier checked in a summary and what it removed."""

    bullets_checked: int = 0
    citations_checked: int = 0
    numbers_checked: int = 0
    dropped: tuple[DroppedBullet, ...] = ()
    # Bullets that failed once and passed after one repair request (LLM summaries).
    repaired: int = 0

    @property
    def ok(self) -> bool:
        return not self.dropped


@dataclass(frozen=True, slots=True)
class Summary:
    """A structured summary: a lead section then themed sections of cited bullets."""

    doc_id: str
    sections: tuple[Section, ...]
    language: str
    summarizer: str
    model: str = ""
    prompt_version: str = ""
    content_hash: str = ""
    verification: Verification = field(default_factory=Verification)

    def to_json(self) -> dict[str, Any]:
        return {
            "language": self.language,
            "summarizer": self.summarizer,
            "model": self.model,
            "prompt_version": self.prompt_version,
            "content_hash": self.content_hash,
            "sections": [
                {
                    "title": s.title,
                    "bullets": [
                        {"text": b.text, "citations": list(b.citations)} for b in s.bullets
                    ],
                }
                for s in self.sections
            ],
            "verification": {
                "ok": self.verification.ok,
                "bullets_checked": self.verification.bullets_checked,
                "citations_checked": self.verification.citations_checked,
                "numbers_checked": self.verification.numbers_checked,
                "repaired": self.verification.repaired,
                "dropped": [
                    {"text": d.text, "citations": list(d.citations), "reason": d.reason}
                    for d in self.verification.dropped
                ],
            },
        }

    @classmethod
    def from_json(cls, doc_id: str, data: dict[str, Any]) -> Summary:
        ver = data.get("verification") or {}
        return cls(
            doc_id=doc_id,
            language=str(data.get("language", "")),
            summarizer=str(data.get("summarizer", "")),
            model=str(data.get("model", "")),
            prompt_version=str(data.get("prompt_version", "")),
            content_hash=str(data.get("content_hash", "")),
            sections=tuple(
                Section(
                    title=str(s["title"]),
                    bullets=tuple(
                        Bullet(text=str(b["text"]), citations=tuple(int(c) for c in b["citations"]))
                        for b in s["bullets"]
                    ),
                )
                for s in data.get("sections", [])
            ),
            verification=Verification(
                bullets_checked=int(ver.get("bullets_checked", 0)),
                citations_checked=int(ver.get("citations_checked", 0)),
                numbers_checked=int(ver.get("numbers_checked", 0)),
                repaired=int(ver.get("repaired", 0)),
                dropped=tuple(
                    DroppedBullet(
                        text=str(d["text"]),
                        citations=tuple(int(c) for c in d["citations"]),
                        reason=str(d["reason"]),
                    )
                    for d in ver.get("dropped", [])
                ),
            ),
        )


@dataclass(frozen=True, slots=True)
class ReaderBullet:
    """A bullet as a reader sees it: maybe translated, always with what it came from."""

    text: str
    citations: tuple[int, ...]
    # The article's sentence(s) the bullet is; None for an LLM's own words.
    original: str | None = None
    translated: bool = False
    # Why no translation is shown (the text is then the original), e.g. a number that
    # did not survive the translation.
    problem: str = ""


@dataclass(frozen=True, slots=True)
class ReaderSection:
    title: str
    bullets: tuple[ReaderBullet, ...]


@dataclass(frozen=True, slots=True)
class ReaderSummary:
    """A stored summary shown in the language a reader asked for (en, zh, original)."""

    summary: Summary
    language: str
    sections: tuple[ReaderSection, ...]
    title: str
    title_original: str
    title_translated: bool = False
    translator: str = ""
    translator_model: str = ""
    # Said to the reader about the whole summary ("machine translation unavailable —
    # showing the original").
    note: str = ""

    @property
    def bullets(self) -> list[ReaderBullet]:
        return [b for s in self.sections for b in s.bullets]

    def to_json(self) -> dict[str, Any]:
        """The stored summary's JSON with the sections as shown and who made what."""
        data = self.summary.to_json()
        data["sections"] = [
            {
                "title": s.title,
                "bullets": [
                    {
                        "text": b.text,
                        "citations": list(b.citations),
                        "original": b.original,
                        "translated": b.translated,
                        "translation_problem": b.problem,
                    }
                    for b in s.bullets
                ],
            }
            for s in self.sections
        ]
        data["display_language"] = self.language
        data["translator"] = (
            {"name": self.translator, "model": self.translator_model} if self.translator else None
        )
        data["translation_note"] = self.note
        data["translation"] = {
            "bullets_translated": sum(b.translated for b in self.bullets),
            "bullets_in_original": sum(bool(b.problem) for b in self.bullets),
            "title_translated": self.title_translated,
        }
        return data


@dataclass(frozen=True, slots=True)
class TranslateResult:
    """The outcome of translating one document's summary and title: a value."""

    doc_id: str
    outcome: str  # translated | cached | failed | skipped | missing | not_tried
    reason: str = ""
    # Bullets whose translation failed a check and are shown in the original.
    in_original: int = 0


@dataclass
class TranslateReport:
    translator: str
    model: str
    language: str
    results: list[TranslateResult] = field(default_factory=list)

    @property
    def counts(self) -> dict[str, int]:
        c = Counter(r.outcome for r in self.results)
        keys = ("translated", "cached", "skipped", "failed", "missing", "not_tried")
        return {k: c.get(k, 0) for k in keys}

    def to_json(self) -> dict[str, Any]:
        return {
            "translator": self.translator,
            "model": self.model,
            "language": self.language,
            "counts": self.counts,
            "bullets_in_original": sum(r.in_original for r in self.results),
            "failures": [
                {"id": r.doc_id, "outcome": r.outcome, "reason": r.reason}
                for r in self.results
                if r.outcome in ("failed", "missing", "not_tried")
            ],
        }


@dataclass(frozen=True, slots=True)
class IngestResult:
    """The outcome of one input item: a value, never an exception."""

    outcome: Outcome
    origin: str
    doc_id: str = ""
    title: str = ""
    reason: str = ""
    duplicate_of: str = ""
    # What was changed on the way in (an out-of-range publish time dropped ...).
    note: str = ""


@dataclass
class IngestReport:
    """Outcomes of one ingest run, in input order."""

    results: list[IngestResult] = field(default_factory=list)
    indexed: int = 0
    embedded: int = 0
    # Summaries made by the catch-up after a large run's documents were stored.
    summarized: int = 0
    # True when another process held the index to the end: stored documents not yet
    # searchable are indexed by the next catch-up (any engine does one on opening).
    index_deferred: bool = False

    @property
    def counts(self) -> dict[str, int]:
        c = Counter(r.outcome for r in self.results)
        return {
            k: c.get(k, 0)
            for k in ("accepted", "updated", "unchanged", "duplicate", "skipped", "failed")
        }

    @property
    def problems(self) -> list[IngestResult]:
        return [r for r in self.results if r.outcome in ("failed", "skipped")]

    @property
    def notes(self) -> list[IngestResult]:
        return [r for r in self.results if r.note]


@dataclass(frozen=True, slots=True)
class DuplicateRef:
    """Another document of a story: a syndicated copy, or its version in another language."""

    id: str
    source: str
    url: str
    published_at: datetime | None
    lang: str = ""
    title: str = ""


@dataclass(frozen=True, slots=True)
class Hit:
    """One search result: a document (the story's representative) and its other sources."""

    document: Document
    score: float
    duplicates: tuple[DuplicateRef, ...] = ()
    summary: Summary | None = None
    snippet: str = ""
    # (start, end) character offsets of the query's words inside ``snippet``.
    highlights: tuple[tuple[int, int], ...] = ()
    # Why the result is there: the query's words it contains, and whether the
    # embeddings found it close in meaning to the query.
    matched: tuple[str, ...] = ()
    by_meaning: bool = False
    # Judged relevant with confidence (always true on the newest-first list; the
    # relevance-sorted list goes on past the confident results).
    confident: bool = True


@dataclass(frozen=True, slots=True)
class SearchResults:
    query: str
    total: int
    hits: tuple[Hit, ...]
    sort: str = "newest"
    # Publish times of every relevant story (not only this page), for the timeline.
    published: tuple[datetime | None, ...] = ()
    # How the results were retrieved: hybrid, lexical, semantic or browse (no query).
    retrieval: str = "lexical"
    # Stories in this listing (paging): ``total`` for newest first; the relevance
    # order also lists the less certain candidates after the confident ones.
    listed: int = -1

    @property
    def pages_of(self) -> int:
        """Stories that can be paged through (``listed``, or ``total`` when unset)."""
        return self.listed if self.listed >= 0 else self.total


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


@dataclass(frozen=True, slots=True)
class FeedPoll:
    """What one poll of one feed did: ``ok``, ``not_modified``, ``error``, ``backoff``, or
    ``leased`` (a worker is polling it right now)."""

    url: str
    status: str
    title: str = ""
    items: int = 0
    counts: dict[str, int] = field(default_factory=dict)
    error: str = ""

    def to_json(self) -> dict[str, Any]:
        return {
            "url": self.url,
            "status": self.status,
            "title": self.title,
            "items": self.items,
            "counts": self.counts,
            "error": self.error,
        }
