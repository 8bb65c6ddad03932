"""Measure extractive summaries on real data: structure and citations, and ROUGE.

(a) Validity over real articles (CCTV 新闻联播, RSS full articles, FinQA documents):
every bullet cites existing paragraphs, is made of whole sentences found verbatim in
the paragraphs it cites, passes the number verifier, and the summary has the seed's
shape (a one-sentence Core Viewpoint first) and length (a share of the article, never
more than the article minus its lede).

(b) ROUGE-1/2/L (character tokens for Chinese) of the lead bullet against human
references (FinNA, LCSTS with label >= 3, CFBenchmark report summaries), beside two
baselines computed in the same run: LEAD-1 (the first sentence) and TextRank (the
most central sentence of a sentence-similarity graph).
"""

from __future__ import annotations

import re
import statistics
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path
from typing import Any

from newsdesk.evaluation import data as ds
from newsdesk.evaluation.keyfacts import article_chars, keyfacts_report, lede_chars, summary_chars
from newsdesk.evaluation.rouge import RougeTotals, tokens
from newsdesk.models import Document, Summary
from newsdesk.summarize.extractive import (
    LEAD_TITLE,
    ExtractiveSummarizer,
    join_sentences,
    leans_on_previous,
    textrank_scores,
)
from newsdesk.text import split_sentences

VALIDITY_SOURCES: dict[str, Callable[[Path], Iterator[Document]]] = {
    "cctv_xwlb": ds.cctv_documents,
    "fin_rss_multisource": ds.rss_documents,
    "bbt_fincuge_finqa": ds.finqa_documents,
}
ROUGE_SETS: dict[str, Callable[[Path], Iterator[ds.SummaryPair]]] = {
    "finna": ds.finna_pairs,
    "lcsts_part3": ds.lcsts_pairs,
    "cfbenchmark_summary": ds.cfbenchmark_pairs,
}
_PARAGRAPH_BREAK = re.compile(r"\n+|\u3000{2,}")


# -- (a) validity ---------------------------------------------------------------------
@dataclass
class Validity:
    documents: int = 0
    bullets: int = 0
    citations: int = 0
    valid_citations: int = 0
    found_in_cited: int = 0
    whole_sentences: int = 0
    standalone: int = 0
    verified_bullets: int = 0
    lead_first: int = 0
    one_sentence_lead: int = 0
    within_cap: int = 0
    empty: int = 0
    seconds: float = 0.0
    ratios: list[float] = field(default_factory=list)
    problems: list[dict[str, Any]] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        def rate(k: int, n: int) -> float:
            return round(k / n, 4) if n else 1.0

        return {
            "documents": self.documents,
            "bullets": self.bullets,
            "citations": self.citations,
            "valid_citation_rate": rate(self.valid_citations, self.citations),
            "found_in_cited_rate": rate(self.found_in_cited, self.bullets),
            "whole_sentence_rate": rate(self.whole_sentences, self.bullets),
            "standalone_rate": rate(self.standalone, self.bullets),
            "verified_rate": rate(self.verified_bullets, self.bullets),
            "lead_section_first_rate": rate(self.lead_first, self.documents - self.empty),
            "one_sentence_lead_rate": rate(self.one_sentence_lead, self.documents - self.empty),
            "within_cap_rate": rate(self.within_cap, self.documents - self.empty),
            "median_length_ratio": round(statistics.median(self.ratios), 4) if self.ratios else 0,
            "empty_summaries": self.empty,
            "bullets_per_document": round(self.bullets / self.documents, 2)
            if self.documents
            else 0,
            "ms_per_document": round(1000 * self.seconds / self.documents, 2)
            if self.documents
            else 0,
            "problems": self.problems[:20],
        }


def _whole_sentences(text: str, cited: list[str]) -> tuple[bool, bool]:
    """(the bullet is found in its cited paragraphs, it is made of whole sentences).

    Whole: the bullet is a run of consecutive sentences of the cited paragraphs (in
    reading order), joined as the summarizer joins them; only the first may have lost
    a leading wire dateline.
    """
    found = any(text in c for c in cited)
    sentences = [x for c in cited for x in split_sentences(c, semicolons=False)]
    for k in range(len(sentences)):
        for j in range(k, len(sentences)):
            joined = join_sentences(sentences[k : j + 1])
            if len(joined) < len(text):
                continue
            trimmed = len(joined) - len(text)
            if joined.endswith(text) and trimmed < len(sentences[k]):
                return True, True
            break
    return found, False


def check_validity(documents: Iterable[Document], summarizer: ExtractiveSummarizer) -> Validity:
    out = Validity()
    leads = set(LEAD_TITLE.values())
    for doc in documents:
        started = time.perf_counter()
        summary = summarizer.summarize(doc)
        out.seconds += time.perf_counter() - started
        out.documents += 1
        if not summary.sections:
            out.empty += 1
            out.problems.append({"id": doc.id, "problem": "empty summary"})
            continue
        out.lead_first += summary.sections[0].title in leads
        first = summary.sections[0].bullets
        out.one_sentence_lead += (
            len(first) == 1 and len(split_sentences(first[0].text, semicolons=False)) == 1
        )
        length, total = summary_chars(summary), article_chars(doc)
        out.within_cap += length <= max(total - lede_chars(doc), lede_chars(doc))
        if total:
            out.ratios.append(length / total)
        dropped = len(summary.verification.dropped)
        out.bullets += dropped
        if dropped:
            out.problems.append(
                {
                    "id": doc.id,
                    "problem": "dropped by verifier",
                    "reasons": [d.reason for d in summary.verification.dropped],
                }
            )
        for section in summary.sections:
            for bullet in section.bullets:
                out.bullets += 1
                out.verified_bullets += 1
                cited = [doc.paragraph(c) for c in bullet.citations]
                out.citations += len(cited)
                out.valid_citations += sum(p is not None for p in cited)
                texts = [p.text for p in cited if p is not None]
                found, whole = _whole_sentences(bullet.text, texts)
                out.whole_sentences += whole
                # A bullet never opens with a sentence that leans on one not shown.
                opening = split_sentences(bullet.text, semicolons=False)[:1]
                out.standalone += not (opening and leans_on_previous(opening[0]))
                if bullet.citations and found:
                    out.found_in_cited += 1
                else:
                    out.problems.append(
                        {
                            "id": doc.id,
                            "problem": "bullet not in cited paragraph",
                            "bullet": bullet.text[:120],
                            "citations": list(bullet.citations),
                        }
                    )
    return out


def validity_report(data: Path, per_source: int) -> dict[str, Any]:
    summarizer = ExtractiveSummarizer()
    report: dict[str, Any] = {}
    total = Validity()
    for name, reader in VALIDITY_SOURCES.items():
        v = check_validity(islice(reader(data), per_source), summarizer)
        report[name] = v.to_json()
        for key in (
            "documents",
            "bullets",
            "citations",
            "valid_citations",
            "found_in_cited",
            "whole_sentences",
            "standalone",
            "verified_bullets",
            "lead_first",
            "one_sentence_lead",
            "within_cap",
            "empty",
        ):
            setattr(total, key, getattr(total, key) + getattr(v, key))
        total.seconds += v.seconds
        total.ratios.extend(v.ratios)
        total.problems.extend(v.problems)
    report["all"] = total.to_json()
    return report


# -- (b) ROUGE ------------------------------------------------------------------------
def pair_document(pair: ds.SummaryPair) -> Document:
    paragraphs = [p for p in _PARAGRAPH_BREAK.split(pair.text) if p.strip()]
    return ds.make_document(pair.id, "", paragraphs, "zh")


def lead_bullet(summary: Summary) -> str:
    if not summary.sections or not summary.sections[0].bullets:
        return ""
    return summary.sections[0].bullets[0].text


def lead_section(summary: Summary) -> str:
    if not summary.sections:
        return ""
    return "".join(b.text for b in summary.sections[0].bullets)


def _sentences(doc: Document) -> list[str]:
    return [s for p in doc.paragraphs for s in split_sentences(p.text)]


def lead1(doc: Document) -> str:
    """LEAD-1: the document's first sentence."""
    sentences = _sentences(doc)
    return sentences[0] if sentences else ""


def textrank(doc: Document, damping: float = 0.85, iterations: int = 50) -> str:
    """TextRank (Mihalcea & Tarau 2004): the top sentence of a PageRank over sentence
    similarity |shared tokens| / (log|a| + log|b|), with character tokens for Chinese.
    """
    sentences = _sentences(doc)
    if len(sentences) <= 1:
        return sentences[0] if sentences else ""
    scores = textrank_scores([set(tokens(s)) for s in sentences], damping, iterations)
    n = len(sentences)
    best = max(range(n), key=lambda i: (scores[i], -i))
    return sentences[best]


def rouge_report(data: Path, per_set: int | None) -> dict[str, Any]:
    """Mean ROUGE F1 (x100) per data set for ours and the baselines, same pairs."""
    summarizer = ExtractiveSummarizer()
    report: dict[str, Any] = {}
    for name, reader in ROUGE_SETS.items():
        systems = {
            "newsdesk_lead_bullet": RougeTotals(),
            "newsdesk_lead_section": RougeTotals(),
            "lead1": RougeTotals(),
            "textrank": RougeTotals(),
        }
        pairs = reader(data) if per_set is None else islice(reader(data), per_set)
        for pair in pairs:
            doc = pair_document(pair)
            summary = summarizer.summarize(doc)
            systems["newsdesk_lead_bullet"].add(lead_bullet(summary), pair.reference)
            systems["newsdesk_lead_section"].add(lead_section(summary), pair.reference)
            systems["lead1"].add(lead1(doc), pair.reference)
            systems["textrank"].add(textrank(doc), pair.reference)
        report[name] = {"pairs": systems["lead1"].n, **{k: v.means() for k, v in systems.items()}}
    return report


def summaries_report(data: Path, per_source: int, per_set: int | None) -> dict[str, Any]:
    return {
        "validity": validity_report(data, per_source),
        "rouge": rouge_report(data, per_set),
        "keyfacts": keyfacts_report(data, ExtractiveSummarizer().summarize),
    }
