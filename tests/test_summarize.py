"""Extractive summaries and the verifier: shape, citations, numbers."""

from __future__ import annotations

import pytest

from newsdesk import Engine
from newsdesk.models import Bullet, Document, Paragraph, Section, Summary
from newsdesk.summarize.extractive import LEAD_TITLE, ExtractiveSummarizer
from newsdesk.summarize.verify import numbers_in, verify


def _doc(paragraphs: list[str], lang: str = "en", title: str = "Title") -> Document:
    return Document(
        id="d",
        title=title,
        paragraphs=tuple(Paragraph(i, t) for i, t in enumerate(paragraphs, start=1)),
        lang=lang,
        content_hash="h",
    )


def test_every_sample_summary_has_the_seed_shape_and_valid_citations(sample_engine: Engine) -> None:
    ids = [row.id for row in sample_engine.store.rows_since(0, 10_000)]
    assert len(ids) >= 40
    checked = 0
    for doc_id in ids:
        doc = sample_engine.document(doc_id)
        summary = sample_engine.summary(doc_id)
        assert summary is not None, doc_id
        assert summary.sections and summary.sections[0].title == LEAD_TITLE["en"]
        assert summary.language == doc.lang
        assert summary.content_hash == doc.content_hash
        assert summary.verification.ok
        for section in summary.sections:
            assert section.bullets
            for bullet in section.bullets:
                assert bullet.citations
                for n in bullet.citations:
                    p = doc.paragraph(n)
                    assert p is not None, (doc_id, n)
                    # Extractive bullets are sentences of the paragraph they cite.
                    assert bullet.text in p.text
                    checked += 1
    assert checked >= 200


def test_long_article_gets_themed_sections_short_one_only_a_lead() -> None:
    long_doc = _doc(
        [
            "ASML will invest €1.3 billion in Mistral, the French AI lab, its largest deal ever.",
            "The funding round values Mistral at €11.7 billion, sources said on Tuesday.",
            "Brussels said the deal supports the EU policy of technological sovereignty.",
            "Rival labs in the United States have raised more than $40 billion this year.",
            "Mistral plans to hire 600 engineers by 2026 and expects revenue to triple.",
            "The chipmaker said its lithography machines will use the lab's models.",
        ],
        title="ASML invests in Mistral",
    )
    summary = ExtractiveSummarizer().summarize(long_doc)
    assert len(summary.sections) >= 2
    assert summary.sections[0].title == "Core Insights"
    assert sum(len(s.bullets) for s in summary.sections) <= 9
    short = ExtractiveSummarizer().summarize(_doc(["The central bank held its rate at 2.5%."]))
    assert len(short.sections) == 1 and len(short.sections[0].bullets) == 1


def test_chinese_ui_titles() -> None:
    summary = ExtractiveSummarizer(ui_language="zh").summarize(
        _doc(
            ["央行宣布下调存款准备金率0.5个百分点，释放长期资金约1万亿元。"],
            lang="zh",
            title="央行降准",
        )
    )
    assert summary.sections[0].title == "核心观点"
    assert summary.language == "zh"


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("投资13亿欧元", 1.3e9),
        ("€1.3 billion", 1.3e9),
        ("1.2万亿元", 1.2e12),
        ("5万片", 5e4),
        ("50,000 wafers", 5e4),
        ("增长14%", 14.0),
        ("80 percent", 80.0),
    ],
)
def test_numbers_are_read_by_value(text: str, value: float) -> None:
    values = set().union(*(v for _, v in numbers_in(text)))
    assert any(abs(v - value) < 1e-6 * value for v in values), (text, values)


def test_verify_drops_bad_citations_and_invented_numbers() -> None:
    doc = _doc(
        [
            "阿斯麦向Mistral投资13亿欧元。",
            "Mistral的估值升至117亿欧元。",
        ],
        lang="zh",
    )
    summary = Summary(
        doc_id="d",
        language="en",
        summarizer="test",
        sections=(
            Section(
                "Core Insights",
                (
                    Bullet("ASML invested €1.3 billion in Mistral.", (1,)),
                    Bullet("Mistral is valued at €11.7 billion.", (2,)),
                    Bullet("Mistral is valued at €12 billion.", (2,)),
                    Bullet("ASML invested €1.3 billion.", (2,)),
                    Bullet("Cites a paragraph that does not exist.", (7,)),
                    Bullet("Cites nothing.", ()),
                ),
            ),
            Section("Only bad", (Bullet("Invented 99% growth.", (1,)),)),
        ),
    )
    checked = verify(summary, doc)
    kept = [b.text for s in checked.sections for b in s.bullets]
    assert kept == ["ASML invested €1.3 billion in Mistral.", "Mistral is valued at €11.7 billion."]
    assert [s.title for s in checked.sections] == ["Core Insights"]
    reasons = [d.reason for d in checked.verification.dropped]
    assert len(reasons) == 5
    assert "12" in reasons[0] and "not found" in reasons[0]
    assert "1.3 billion" in reasons[1]
    assert "do not exist" in reasons[2]
    assert reasons[3] == "cites no paragraph"
    assert checked.verification.bullets_checked == 7
    assert not checked.verification.ok
