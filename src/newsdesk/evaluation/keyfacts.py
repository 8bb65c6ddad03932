"""Key-fact coverage of summaries on real articles the project annotated by hand.

``keyfacts.json`` (beside this module) lists 30 articles of ``../shared/data`` (Chinese
financial news from the RSS set, English RSS articles and Reuters newswire) and, for
each, the facts a reader must get from its summary. A fact is stored as an *anchor*,
never as text: the paragraph number, the character offset and length of a short span
of that paragraph (a figure, a name, a short phrase that carries the fact) and the
first 12 hex digits of the span's SHA-256, so no article text is in the repository and
a change in the data (or in how paragraphs are cleaned) is detected, not scored. Each
fact also has a note in the project's own words.

A fact is covered when its anchor appears verbatim in the summary's bullets. The
baseline is LEAD of the same length: the article's opening characters, as many as the
summary has (paragraph by paragraph), scored the same way. Lengths are characters of
bullet text over characters of paragraph text.

Articles are split into ``dev`` (10, looked at while the summarizer was tuned) and
``test`` (20, only measured); the report gives both and all.
"""

from __future__ import annotations

import hashlib
import json
import statistics
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from newsdesk.errors import InputError
from newsdesk.evaluation import data as ds
from newsdesk.models import Document, Summary
from newsdesk.text import split_sentences

ANNOTATIONS = "keyfacts.json"


@dataclass(frozen=True, slots=True)
class KeyFact:
    paragraph: int
    start: int
    length: int
    sha: str
    note: str


@dataclass(frozen=True, slots=True)
class Annotated:
    doc_id: str
    source: str
    split: str
    lang: str
    facts: tuple[KeyFact, ...]


def anchor_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:12]


def load_annotations(path: Path | None = None) -> list[Annotated]:
    """The annotated articles (the packaged file unless ``path`` is given)."""
    if path is None:
        raw = (resources.files("newsdesk.evaluation") / ANNOTATIONS).read_text(encoding="utf-8")
    else:
        raw = path.read_text(encoding="utf-8")
    data = json.loads(raw)
    return [
        Annotated(
            doc_id=str(a["doc"]),
            source=str(a["source"]),
            split=str(a["split"]),
            lang=str(a["lang"]),
            facts=tuple(
                KeyFact(int(f["p"]), int(f["start"]), int(f["len"]), str(f["sha"]), str(f["note"]))
                for f in a["facts"]
            ),
        )
        for a in data["articles"]
    ]


def load_documents(data: Path, articles: Iterable[Annotated]) -> dict[str, Document]:
    """Read the annotated articles from the evaluation data, by id."""
    wanted = list(articles)
    rss = {int(a.doc_id.split("-", 1)[1]) for a in wanted if a.doc_id.startswith("rss-")}
    reuters = {a.doc_id for a in wanted if a.doc_id.startswith("reuters-")}
    out = {d.id: d for d in ds.rss_documents_by_index(data, rss).values()}
    if reuters:
        for doc in ds.reuters_documents(data):
            if doc.id in reuters:
                out[doc.id] = doc
                if all(r in out for r in reuters):
                    break
    missing = [a.doc_id for a in wanted if a.doc_id not in out]
    if missing:
        raise InputError(f"annotated articles missing from {data}: {', '.join(missing)}")
    return out


def resolve(doc: Document, fact: KeyFact) -> str | None:
    """The anchor's text, or None when the data no longer matches the annotation."""
    p = doc.paragraph(fact.paragraph)
    if p is None:
        return None
    text = p.text[fact.start : fact.start + fact.length]
    if len(text) != fact.length or anchor_hash(text) != fact.sha:
        return None
    return text


def lead_text(doc: Document, chars: int) -> str:
    """LEAD of ``chars`` characters: the article's opening, paragraph by paragraph."""
    out = []
    left = chars
    for p in doc.paragraphs:
        if left <= 0:
            break
        out.append(p.text[:left])
        left -= len(p.text)
    return "\n".join(out)


def article_chars(doc: Document) -> int:
    return sum(len(p.text) for p in doc.paragraphs)


def summary_chars(summary: Summary) -> int:
    return sum(len(b.text) for s in summary.sections for b in s.bullets)


def lede_chars(doc: Document) -> int:
    """Length of the article's first sentence (its lede)."""
    for p in doc.paragraphs:
        sentences = split_sentences(p.text, semicolons=False)
        if sentences:
            return len(sentences[0])
    return 0


@dataclass
class ArticleScore:
    doc_id: str
    split: str
    lang: str
    facts: int
    ours: int
    lead: int
    article_chars: int
    summary_chars: int
    lede_chars: int
    missed: list[str]

    @property
    def ratio(self) -> float:
        return self.summary_chars / self.article_chars if self.article_chars else 0.0

    @property
    def within_cap(self) -> bool:
        """Never more than the article minus its lede (a lede-only summary is allowed)."""
        cap = self.article_chars - self.lede_chars
        return self.summary_chars <= max(cap, self.lede_chars)


def score_article(
    annotated: Annotated, doc: Document, summarize: Callable[[Document], Summary]
) -> ArticleScore | str:
    """Score one article; a string names an anchor that no longer matches the data."""
    anchors = []
    for fact in annotated.facts:
        text = resolve(doc, fact)
        if text is None:
            return f"{doc.id}: anchor at paragraph {fact.paragraph}+{fact.start} drifted"
        anchors.append((text, fact.note))
    summary = summarize(doc)
    bullets = "\n".join(b.text for s in summary.sections for b in s.bullets)
    length = summary_chars(summary)
    lead = lead_text(doc, length)
    return ArticleScore(
        doc_id=doc.id,
        split=annotated.split,
        lang=annotated.lang,
        facts=len(anchors),
        ours=sum(1 for text, _ in anchors if text in bullets),
        lead=sum(1 for text, _ in anchors if text in lead),
        article_chars=article_chars(doc),
        summary_chars=length,
        lede_chars=lede_chars(doc),
        missed=[note for text, note in anchors if text not in bullets],
    )


def _aggregate(scores: list[ArticleScore]) -> dict[str, Any]:
    if not scores:
        return {"articles": 0}
    facts = sum(s.facts for s in scores)
    ratios = sorted(s.ratio for s in scores)
    ours = sum(s.ours for s in scores) / facts
    lead = sum(s.lead for s in scores) / facts
    return {
        "articles": len(scores),
        "facts": facts,
        "coverage": round(ours, 4),
        "lead_coverage": round(lead, 4),
        "margin": round(ours - lead, 4),
        "macro_coverage": round(statistics.mean(s.ours / s.facts for s in scores), 4),
        "macro_lead_coverage": round(statistics.mean(s.lead / s.facts for s in scores), 4),
        "median_length_ratio": round(statistics.median(ratios), 4),
        "max_length_ratio": round(ratios[-1], 4),
        "median_summary_chars": statistics.median(s.summary_chars for s in scores),
        "within_cap": sum(s.within_cap for s in scores),
    }


def keyfacts_report(
    data: Path,
    summarize: Callable[[Document], Summary],
    annotations: Path | None = None,
) -> dict[str, Any]:
    """Coverage of ours vs LEAD of the same length, by split and language, with lengths."""
    articles = load_annotations(annotations)
    docs = load_documents(data, articles)
    scores: list[ArticleScore] = []
    drifted: list[str] = []
    for a in articles:
        result = score_article(a, docs[a.doc_id], summarize)
        if isinstance(result, str):
            drifted.append(result)
        else:
            scores.append(result)
    report: dict[str, Any] = {
        "all": _aggregate(scores),
        "dev": _aggregate([s for s in scores if s.split == "dev"]),
        "test": _aggregate([s for s in scores if s.split == "test"]),
        "zh": _aggregate([s for s in scores if s.lang == "zh"]),
        "en": _aggregate([s for s in scores if s.lang == "en"]),
        "drifted": drifted,
        "articles": [
            {
                "id": s.doc_id,
                "split": s.split,
                "facts": s.facts,
                "ours": s.ours,
                "lead": s.lead,
                "length_ratio": round(s.ratio, 4),
                "summary_chars": s.summary_chars,
                "article_chars": s.article_chars,
                "missed": s.missed,
            }
            for s in scores
        ],
    }
    return report
