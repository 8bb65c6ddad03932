"""The number and citation verifier: values across languages and units, and its measured floor."""

from __future__ import annotations

import pytest

from conftest import SHARED_DATA
from newsdesk.evaluation.numbers import build_cases, score
from newsdesk.models import Bullet, Document, Paragraph, Section, Summary
from newsdesk.summarize.verify import check_bullet, quantities, unsupported, verify


def _doc(*paragraphs: str) -> Document:
    return Document(
        id="d",
        title="t",
        paragraphs=tuple(Paragraph(i, t) for i, t in enumerate(paragraphs, start=1)),
        lang="zh",
        content_hash="h",
    )


@pytest.mark.parametrize(
    ("bullet", "paragraph"),
    [
        ("ASML invests €1.3 billion in Mistral.", "阿斯麦向Mistral投资13亿欧元。"),
        ("阿斯麦投资13亿欧元。", "ASML will invest €1.3bn in the lab."),
        ("Loans reached 1.2 trillion yuan.", "新增贷款1.2万亿元。"),
        ("Capacity rose by 50,000 wafers a month.", "月产能增加5万片。"),
        ("Exports rose 80 percent.", "出口增长80%。"),
        ("出口增长百分之八十。", "Exports rose 80%."),
        ("The bank cut rates by 25 basis points.", "央行降息25个基点。"),
        ("降息0.25个百分点。", "The Fed cut by 25 bp."),
        ("The plan costs three billion yuan.", "计划投资三十亿元。"),
        ("About 2,000 workers joined.", "两千名工人参加。"),
        ("Sales were 3 to 5 billion yuan.", "销售额30-50亿元。"),
        ("Profit was 2.931 billion to 3.231 billion yuan.", "预告利润29.31-32.31亿元。"),
        ("The deal closes in 2025.", "交易将于2025年完成。"),
        ("The deal closes in 2025.", "交易将于二〇二五年完成。"),
        ("Three companies bid.", "三家公司参与竞标。"),
        ("Growth was 4.5 percentage points higher.", "增速高出4.5个百分点。"),
        ("Nearly 30% of firms", "近三成企业表示……"),
        ("It opened on September 10.", "9月10日开幕。"),
        ("9月10日开幕。", "It opened on September 10."),
        ("Q2 revenue rose.", "二季度营收增长。"),
        ("At 16:00 the index fell.", "16时指数下跌。"),
        ("The COVID-19 rules ended.", "防疫措施结束。"),
        ("A deal worth $5m.", "A deal worth $5 million."),
        ("持股比例为１８．８３％。", "持股比例为18.83%。"),
    ],
)
def test_same_value_in_another_language_or_unit_is_found(bullet: str, paragraph: str) -> None:
    assert unsupported(bullet, paragraph) == []


@pytest.mark.parametrize(
    ("bullet", "paragraph", "missing"),
    [
        ("ASML invests €1.3 million in Mistral.", "阿斯麦向Mistral投资13亿欧元。", "1.3 million"),
        ("Mistral is valued at €12 billion.", "Mistral的估值升至117亿欧元。", "12 billion"),
        ("Loans reached 1.2 billion yuan.", "新增贷款1.2万亿元。", "1.2 billion"),
        ("Capacity rose by 5,000 wafers.", "月产能增加5万片。", "5,000"),
        ("Exports rose 8 percent.", "出口增长80%。", "8 percent"),
        # A percentage must be a percentage in the source, not any 80.
        ("Exports rose 80%.", "出口80个集装箱。", "80%"),
        ("The plan costs four billion yuan.", "计划投资三十亿元。", "four billion"),
        ("The deal closes in 2026.", "交易将于2025年完成。", "2026"),
        (
            "Growth was 4.6 percentage points higher.",
            "增速高出4.5个百分点。",
            "4.6 percentage points",
        ),
        ("Revenue rose 12% in Q3.", "三季度营收增长12%。Q2 营收持平。", None),
        ("Four companies bid.", "三家公司参与竞标。", "Four"),
    ],
)
def test_changed_value_is_caught(bullet: str, paragraph: str, missing: str | None) -> None:
    found = [q.raw for q in unsupported(bullet, paragraph)]
    if missing is None:
        assert found == []
    else:
        assert found == [missing]


def test_quantities_reads_kinds_ranges_and_chinese_numerals() -> None:
    got = [(q.value, q.kind) for q in quantities("3-5亿元、3 to 5 percent、百分之十五、一百二十万")]
    assert got == [
        (3e8, "number"),
        (5e8, "number"),
        (3.0, "percent"),
        (5.0, "percent"),
        (15.0, "percent"),
        (1.2e6, "number"),
    ]
    # Words that merely contain numerals are not figures.
    assert quantities("两岸一些三农问题十分重要，十四五规划") == []


def test_check_bullet_reports_the_first_missing_number_and_counts_all() -> None:
    doc = _doc("营收3.5亿元，同比增长20%。", "净利润下降5%。")
    assert check_bullet(Bullet("Revenue 350 million yuan, up 20%.", (1,)), doc) == ("", 2)
    reason, n = check_bullet(Bullet("Revenue 350 million yuan, up 5%.", (1,)), doc)
    assert reason == "number '5%' not found in cited paragraph(s)" and n == 2
    # Citing both paragraphs makes both figures available.
    assert check_bullet(Bullet("Revenue 350 million yuan, profit down 5%.", (1, 2)), doc)[0] == ""
    assert check_bullet(Bullet("No figure here.", (3,)), doc)[0].startswith("cites paragraph")


def test_verify_keeps_prior_drops_and_counts_numbers() -> None:
    doc = _doc("The ECB held its rate at 2.00% on Thursday.")
    summary = Summary(
        doc_id="d",
        language="en",
        summarizer="t",
        sections=(
            Section(
                "Core",
                (Bullet("The ECB held at 2%.", (1,)), Bullet("It raised to 2.25%.", (1,))),
            ),
        ),
    )
    checked = verify(summary, doc)
    assert [b.text for b in checked.sections[0].bullets] == ["The ECB held at 2%."]
    assert checked.verification.numbers_checked == 2
    again = verify(checked, doc)
    assert len(again.verification.dropped) == 1  # the earlier drop is kept, not duplicated


@pytest.mark.shared_data
def test_number_verifier_precision_recall_floor() -> None:
    """Quality gate on a fixed subset of the labelled set (see bench/summaries.md)."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"evaluation data not found at {SHARED_DATA}")
    cases = build_cases(SHARED_DATA, per_group=150)
    report = score(cases)
    overall = report.overall
    assert overall.tp + overall.fn >= 250 and overall.tn + overall.fp >= 300
    # Real sentences against their own paragraph are never flagged.
    flagged, total = report.flag_rate["verbatim"]
    assert flagged == 0 and total == 300
    assert overall.precision >= 0.95, report.to_json()["overall"]
    assert overall.recall >= 0.93, report.to_json()["overall"]
