"""Summary evaluation: ROUGE against an oracle, baselines, and quality gates on real data."""

from __future__ import annotations

import json
import random
import re
from pathlib import Path

import pytest
from click.testing import CliRunner
from rouge_score import rouge_scorer

from conftest import SHARED_DATA
from newsdesk.cli import cli
from newsdesk.evaluation.keyfacts import (
    Annotated,
    KeyFact,
    anchor_hash,
    keyfacts_report,
    lead_text,
    load_annotations,
    resolve,
    score_article,
)
from newsdesk.evaluation.rouge import mean_scores, rouge_l, rouge_n, tokens
from newsdesk.evaluation.summaries import lead1, rouge_report, textrank, validity_report
from newsdesk.models import Document, Paragraph
from newsdesk.summarize.extractive import ExtractiveSummarizer, strip_dateline

needs_data = pytest.mark.skipif(
    not SHARED_DATA.is_dir(), reason=f"evaluation data not found at {SHARED_DATA}"
)


class _Split:
    def tokenize(self, text: str) -> list[str]:
        return text.split()


def test_tokens_are_characters_for_chinese_and_words_for_latin() -> None:
    assert tokens("央行降准0.5个百分点，ECB holds 2.00%!") == [
        "央", "行", "降", "准", "0.5", "个", "百", "分", "点", "ecb", "holds", "2.00",
    ]  # fmt: skip


def test_rouge_matches_rouge_score_on_the_same_tokens() -> None:
    """Oracle: rouge-score, given our tokens, must agree to 1e-9 on random pairs."""
    rng = random.Random(7)
    vocab = [*"央行降准利率通胀芯片", "ecb", "rate", "cut"]
    scorer = rouge_scorer.RougeScorer(["rouge1", "rouge2", "rougeL"], tokenizer=_Split())
    for _ in range(200):
        cand = [rng.choice(vocab) for _ in range(rng.randint(0, 30))]
        ref = [rng.choice(vocab) for _ in range(rng.randint(1, 30))]
        want = scorer.score(" ".join(ref), " ".join(cand))
        assert rouge_n(cand, ref, 1) == pytest.approx(want["rouge1"].fmeasure, abs=1e-9)
        assert rouge_n(cand, ref, 2) == pytest.approx(want["rouge2"].fmeasure, abs=1e-9)
        assert rouge_l(cand, ref) == pytest.approx(want["rougeL"].fmeasure, abs=1e-9)
    assert mean_scores([("央行降准", "央行降准")])["rouge1"] == 100.0


def _doc(*paragraphs: str) -> Document:
    return Document(
        id="d",
        title="",
        paragraphs=tuple(Paragraph(i, t) for i, t in enumerate(paragraphs, start=1)),
        lang="zh",
    )


def test_baselines() -> None:
    doc = _doc(
        "公司发布年报。",
        "公司营收增长20%，利润增长30%，营收和利润均创新高。营收增长主要来自海外。",
        "天气晴朗。",
    )
    assert lead1(doc) == "公司发布年报。"
    assert textrank(doc) == "公司营收增长20%，利润增长30%，营收和利润均创新高。"


def test_lead_bullet_skips_datelines_and_leads_reports_with_their_thesis() -> None:
    assert strip_dateline(
        "新华社北京7月26日电（记者魏玉坤）记者26日从应急管理部获悉，调运物资。"
    ) == ("记者26日从应急管理部获悉，调运物资。")
    assert (
        strip_dateline("据新华社报道，国务院召开常务会议。") == "据新华社报道，国务院召开常务会议。"
    )
    summarizer = ExtractiveSummarizer()
    news = summarizer.summarize(
        _doc("央视网消息（新闻联播）：国务院总理主持召开常务会议，部署稳经济一揽子措施。")
    )
    assert news.sections[0].bullets[0].text == "国务院总理主持召开常务会议，部署稳经济一揽子措施。"
    report = summarizer.summarize(
        _doc(
            "事件：公司发布年报，我们维持买入评级，目标价15元。",
            "公司是国内锂电设备龙头。",
            "公司全年营收增长35%，公司海外订单增长，公司盈利能力提升，公司龙头地位稳固。",
            "风险提示：下游需求不及预期。",
        )
    )
    lead = report.sections[0].bullets[0]
    assert lead.text.startswith("公司全年营收增长35%") and lead.citations == (3,)


@pytest.mark.shared_data
@needs_data
def test_extractive_citations_are_always_valid_on_real_articles() -> None:
    """Quality gate: 3 x 200 real articles, every citation valid and verbatim."""
    report = validity_report(SHARED_DATA, per_source=200)
    total = report["all"]
    # Measured 1,891 bullets, 3.15 per document, median length 29.7 % of the article.
    assert total["documents"] == 600 and total["bullets"] >= 1700
    assert total["valid_citation_rate"] == 1.0
    assert total["found_in_cited_rate"] == 1.0
    assert total["whole_sentence_rate"] == 1.0
    assert total["verified_rate"] == 1.0
    assert total["lead_section_first_rate"] == 1.0
    assert total["one_sentence_lead_rate"] == 1.0
    assert total["within_cap_rate"] == 1.0
    assert total["median_length_ratio"] <= 0.35
    # One CCTV story is the single word "undefined": its only sentence has to do.
    assert total["standalone_rate"] >= 0.998, total["problems"]
    assert total["empty_summaries"] == 0, total["problems"]


@pytest.mark.shared_data
@needs_data
def test_key_fact_coverage_beats_lead_of_the_same_length() -> None:
    """Quality gate on the 30 hand-annotated articles (anchors resolved in ../shared/data):
    measured coverage 0.629 (test split 0.632) against LEAD 0.515 (0.507), median length
    29.4 % of the article (bench/summaries.md)."""
    report = keyfacts_report(SHARED_DATA, ExtractiveSummarizer().summarize)
    assert report["drifted"] == []
    for split in ("all", "test"):
        row = report[split]
        assert row["coverage"] >= 0.60, row
        assert row["margin"] >= 0.09, row
        assert row["median_length_ratio"] <= 0.32, row
        assert row["within_cap"] == row["articles"]
    assert report["all"]["articles"] == 30 and report["all"]["facts"] >= 200
    assert report["zh"]["margin"] >= 0.05 and report["en"]["margin"] >= 0.05


def test_key_fact_anchors_detect_drift(tmp_path: Path) -> None:
    """An anchor whose text no longer matches (hash) is reported, never scored."""
    doc = Document(
        id="rss-1",
        title="t",
        paragraphs=(Paragraph(1, "阿斯麦向Mistral投资13亿欧元。"), Paragraph(2, "估值117亿欧元。")),
        lang="zh",
    )
    good = KeyFact(1, 13, 5, anchor_hash("13亿欧元"), "amount")
    assert resolve(doc, good) == "13亿欧元"
    assert resolve(doc, KeyFact(1, 13, 5, anchor_hash("14亿欧元"), "amount")) is None
    assert resolve(doc, KeyFact(5, 0, 3, good.sha, "gone")) is None
    annotated = Annotated("rss-1", "fin_rss_multisource", "test", "zh", (good,))
    scored = score_article(annotated, doc, ExtractiveSummarizer().summarize)
    assert not isinstance(scored, str) and scored.facts == 1
    drifted = Annotated("rss-1", "x", "test", "zh", (KeyFact(2, 0, 4, good.sha, "moved"),))
    assert isinstance(score_article(drifted, doc, ExtractiveSummarizer().summarize), str)
    # LEAD of n characters is the article's opening, paragraph by paragraph.
    assert lead_text(doc, 13) == "阿斯麦向Mistral投资"
    assert lead_text(doc, 20) == "阿斯麦向Mistral投资13亿欧元。\n估"


def test_annotations_hold_anchors_not_article_text() -> None:
    """keyfacts.json stores offsets and hashes only (the data's text stays out of the repo)."""
    articles = load_annotations()
    assert len(articles) >= 20 and {a.lang for a in articles} == {"zh", "en"}
    assert sum(a.split == "test" for a in articles) >= 20
    for a in articles:
        for f in a.facts:
            assert f.paragraph >= 1 and f.start >= 0 and 0 < f.length <= 80
            assert re.fullmatch(r"[0-9a-f]{12}", f.sha)


# Measured on the first 200 pairs of each set when the floors were set:
# finna 38.38/27.54/35.37, lcsts 27.47/15.61/23.50, cfbenchmark 22.47/9.99/14.98.
# FinNA was 40.12/28.94/36.96 while bullets could be clauses cut at "；"; whole
# sentences (issue 11) make its lead bullet 6 characters longer than the one-line
# references, so its floor was lowered on purpose.
FINNA = {"rouge1": 38.0, "rouge2": 27.2, "rougeL": 35.0}
LCSTS = {"rouge1": 27.3, "rouge2": 15.4, "rougeL": 23.3}
CFB = {"rouge1": 21.9, "rouge2": 9.5, "rougeL": 14.4}


@pytest.mark.shared_data
@needs_data
def test_lead_bullet_rouge_floors() -> None:
    """Quality gate: the first 200 pairs of each set; floors sit just under the values
    measured when they were set (bench/summaries.md)."""
    report = rouge_report(SHARED_DATA, per_set=200)
    floors = {"finna": FINNA, "lcsts_part3": LCSTS, "cfbenchmark_summary": CFB}
    for name, floor in floors.items():
        row = report[name]
        assert row["pairs"] == 200
        ours = row["newsdesk_lead_bullet"]
        for metric, value in floor.items():
            assert ours[metric] >= value, (name, metric, ours)
    # Where the margin is wide, the comparison with the baseline is pinned too.
    assert report["finna"]["newsdesk_lead_bullet"]["rouge1"] > (
        report["finna"]["textrank"]["rouge1"] + 2
    )
    assert report["cfbenchmark_summary"]["newsdesk_lead_bullet"]["rouge1"] > (
        report["cfbenchmark_summary"]["lead1"]["rouge1"] + 5
    )


@needs_data
def test_eval_commands_print_json(tmp_path: Path) -> None:
    runner = CliRunner()
    result = runner.invoke(
        cli,
        [
            "eval",
            "summaries",
            "--data",
            str(SHARED_DATA),
            "--per-source",
            "3",
            "--per-set",
            "3",
            "--json",
        ],
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["validity"]["all"]["documents"] == 9
    assert set(data["rouge"]) == {"finna", "lcsts_part3", "cfbenchmark_summary"}
    assert set(data["rouge"]["finna"]) >= {"pairs", "newsdesk_lead_bullet", "lead1", "textrank"}
    assert data["keyfacts"]["all"]["articles"] == 30
    keyfacts = runner.invoke(cli, ["eval", "keyfacts", "--data", str(SHARED_DATA), "--json"])
    assert keyfacts.exit_code == 0, keyfacts.output
    assert json.loads(keyfacts.stdout)["test"]["facts"] >= 100
    numbers = runner.invoke(
        cli, ["eval", "numbers", "--data", str(SHARED_DATA), "--per-group", "10", "--json"]
    )
    assert numbers.exit_code == 0, numbers.output
    assert json.loads(numbers.stdout)["overall"]["cases"] > 30


def test_eval_without_data_is_a_clear_error(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["eval", "summaries", "--data", str(tmp_path / "none")])
    assert result.exit_code == 1
    assert "evaluation data folder not found" in result.stderr
