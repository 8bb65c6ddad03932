"""Extractive summaries and the verifier: shape, citations, numbers."""

from __future__ import annotations

import pytest

from newsdesk import Engine
from newsdesk.models import Bullet, Document, Paragraph, Section, Summary
from newsdesk.summarize.extractive import LEAD_TITLE, ExtractiveSummarizer, leans_on_previous
from newsdesk.summarize.verify import numbers_in, verify
from newsdesk.text import split_sentences


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
        # One one-sentence Core Viewpoint, then themed sections.
        assert summary.sections and summary.sections[0].title == LEAD_TITLE["en"]
        assert len(summary.sections[0].bullets) == 1
        assert len(split_sentences(summary.sections[0].bullets[0].text, semicolons=False)) == 1
        assert summary.language == doc.lang
        assert summary.content_hash == doc.content_hash
        assert summary.verification.ok
        article = sum(len(p.text) for p in doc.paragraphs)
        assert sum(len(b.text) for s in summary.sections for b in s.bullets) <= 0.4 * article
        for section in summary.sections:
            assert section.bullets
            for bullet in section.bullets:
                assert bullet.citations
                cited = " ".join(p.text for n in bullet.citations if (p := doc.paragraph(n)))
                # Extractive bullets are whole sentences of the paragraphs they cite.
                for sentence in split_sentences(bullet.text, semicolons=False):
                    assert sentence in cited, (doc_id, sentence)
                    checked += 1
    assert checked >= 100


def test_long_article_gets_themed_sections_short_one_only_a_lead() -> None:
    long_doc = _doc(
        [
            "ASML will invest €1.3 billion in Mistral, the French AI lab, its largest deal ever.",
            "The funding round values Mistral at €11.7 billion, sources said on Tuesday.",
            "Brussels said the deal supports the EU policy of technological sovereignty.",
            "Rival labs in the United States have raised more than $40 billion this year.",
            "Mistral plans to hire 600 engineers by 2026 and expects revenue to triple.",
            "The chipmaker said its lithography machines will use the lab's models.",
            "Shares of ASML rose 2% in Amsterdam after the announcement on Tuesday morning.",
            "French officials welcomed the investment as a sign of European tech confidence.",
            "Analysts at two brokers said the stake could be worth far more within years.",
        ],
        title="ASML invests in Mistral",
    )
    summary = ExtractiveSummarizer().summarize(long_doc)
    assert len(summary.sections) >= 2
    assert summary.sections[0].title == "Core Viewpoint"
    assert [b.text for b in summary.sections[0].bullets] == [long_doc.paragraphs[0].text]
    article = sum(len(p.text) for p in long_doc.paragraphs)
    assert sum(len(b.text) for s in summary.sections for b in s.bullets) <= 0.34 * article
    short = ExtractiveSummarizer().summarize(_doc(["The central bank held its rate at 2.5%."]))
    assert len(short.sections) == 1 and len(short.sections[0].bullets) == 1


def test_summary_is_never_more_than_the_article_minus_its_lede() -> None:
    paragraphs = [
        "Tencent reported revenue of 180 billion yuan for the quarter, up 15%.",
        "Net profit rose 20% to 48 billion yuan on games and advertising sales.",
        "The company bought back 2 billion yuan of shares in the same period.",
    ]
    greedy = ExtractiveSummarizer(ratio=1.0, max_chars=10_000)
    summary = greedy.summarize(_doc(paragraphs))
    total = sum(len(b.text) for s in summary.sections for b in s.bullets)
    article = sum(len(p) for p in paragraphs)
    assert total <= article - len(paragraphs[0])
    assert summary.sections[0].bullets[0].text == paragraphs[0]
    # When the rest is shorter than the lede, the lede alone is the summary.
    two = greedy.summarize(_doc([paragraphs[0], "Shares rose 3%."]))
    assert [b.text for s in two.sections for b in s.bullets] == [paragraphs[0]]


def test_chinese_sentences_are_whole_never_cut_at_semicolons() -> None:
    whole = "公司全年营收增长35%至120亿元；净利润增长20%至18亿元；海外收入占比升至40%。"
    doc = _doc(
        [
            "某锂电池企业15日发布年报，全年业绩创历史新高，股价随即上涨8%。",
            whole,
            "公司计划明年在匈牙利新建年产能30吉瓦时的电池工厂，总投资约73亿欧元。",
            "行业人士认为，欧洲电动车需求回暖将支撑公司海外订单增长。",
        ],
        lang="zh",
        title="锂电池企业年报",
    )
    bullets = [
        b.text for s in ExtractiveSummarizer(ratio=0.6).summarize(doc).sections for b in s.bullets
    ]
    assert whole in bullets
    assert not any(b.endswith("；") for b in bullets)


@pytest.mark.parametrize(
    ("sentence", "leans"),
    [
        ("She said the bank would keep buying bonds.", True),
        ("It is dead, the president said.", True),
        ("However, the yen fell 1% against the dollar.", True),
        ("A spokesperson for one of them declined to comment.", False),
        ('"We will not cut," he said.', True),
        ("In 2020, he discovered a flaw in the site.", True),
        ("Macron also reappointed key ministers.", True),
        ("This year, exports rose 12% to a record.", False),
        ("The European Central Bank held rates at 2%.", False),
        ("此外，公司还计划在越南建厂。", True),
        ("对此，上海发布表示，相关人员均已排查。", True),
        ("该公司去年营收增长20%。", True),
        ("其中，半导体板块净买入182.5亿元。", True),
        ("按此测算，软银将持有约13%的股份。", True),
        ("欧洲本土云厂商对此反应不一。", True),
        ("他指出，此举将有助于提升估值的能见度。", True),
        ("此前，美联储已连续三次降息。", False),
        ("央行15日宣布下调存款准备金率0.5个百分点。", False),
    ],
)
def test_sentences_that_lean_on_the_previous_one(sentence: str, leans: bool) -> None:
    assert leans_on_previous(sentence) is leans


def test_a_leaning_sentence_is_shown_with_the_one_it_leans_on_or_not_at_all() -> None:
    doc = _doc(
        [
            "The Bank of Japan raised its policy rate to 1% on Thursday, its first move in a year.",
            "Governor Kazuo Ueda told reporters that wages were rising fast enough.",
            "He said the bank would cut its bond buying by 2 trillion yen a quarter from April.",
            "The yen rose 1.5% against the dollar after the decision.",
            "Economists at three Tokyo brokerages had expected the bank to wait until July.",
            "Japanese government bond yields climbed to 1.6%, the highest since 2008.",
        ],
        title="Bank of Japan raises rates",
    )
    summary = ExtractiveSummarizer(ratio=0.9, max_chars=10_000).summarize(doc)
    bullets = [b for s in summary.sections for b in s.bullets]
    texts = [b.text for b in bullets]
    assert not any(t.startswith("He said") for t in texts), texts
    joined = next(b for b in bullets if "He said" in b.text)
    assert joined.text.startswith("Governor Kazuo Ueda") and joined.citations == (2, 3)
    # The one-sentence Core Viewpoint is never extended by a sentence leaning on it.
    assert summary.sections[0].bullets[0].text == doc.paragraphs[0].text


def test_headings_captions_bylines_questions_and_title_repeats_are_not_bullets() -> None:
    doc = _doc(
        [
            "Chipmaker raises forecast",
            "Authored by Jane Doe via Example Wire,",
            "The chipmaker raised its annual revenue forecast to $12 billion on Monday.",
            "Executives at the plant in Arizona, 2025. AP Photo/John Smith",
            "Demand outlook",
            "Orders from data centers doubled in the quarter, lifting margins to 41%.",
            "Will the rally last?",
            "Analysts expect shipments to grow 30% next year as new fabs open in Japan.",
            "Tyler Durden",
        ],
        title="Chipmaker raises forecast",
    )
    summary = ExtractiveSummarizer(ratio=1.0, max_chars=10_000).summarize(doc)
    cited = {c for s in summary.sections for b in s.bullets for c in b.citations}
    assert cited <= {3, 6, 8}, cited
    assert summary.sections[0].bullets[0].citations == (3,)


def test_funding_fact_lines_are_kept_and_bylines_dropped() -> None:
    doc = _doc(
        [
            "文｜张三",
            "某机器人公司近日完成数千万元天使轮融资，本轮资金将用于研发和市场推广。",
            "投资机构：某产业基金领投，两家机构跟投",
            "成立时间：2022年",
            "公司的柔性机械臂已在十余家食品工厂批量部署，单站效率较人工提升约3倍。",
        ],
        lang="zh",
        title="某机器人公司完成天使轮融资",
    )
    summary = ExtractiveSummarizer(ratio=1.0, max_chars=10_000).summarize(doc)
    cited = {c for s in summary.sections for b in s.bullets for c in b.citations}
    assert 1 not in cited and 3 in cited


def test_single_theme_bullets_are_gathered_under_key_details() -> None:
    doc = _doc(
        [
            "Regulators in Brussels opened an inquiry into the merger on Monday, officials said.",
            "The deal would create a company with 40% of the European market for wind turbines.",
            "Shares of both groups fell 3% in Paris trading after the announcement.",
            "A decision is expected by 14 October, and the companies plan to offer remedies.",
            "The two companies employ 52,000 people across 18 countries.",
        ],
        title="Brussels opens inquiry into turbine merger",
    )
    summary = ExtractiveSummarizer(ratio=1.0, max_chars=10_000).summarize(doc)
    for section in summary.sections[1:]:
        assert len(section.bullets) >= 2 or section.title == "Key Details", summary.sections


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
