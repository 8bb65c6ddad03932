"""The pure decision that a Chinese and an English document are one story."""

from __future__ import annotations

import numpy as np
import pytest

from conftest import SHARED_DATA
from newsdesk import crosslingual as xl

DAY = 86400

ZH = (
    "英伟达第二季度营收135亿美元，同比增长101%\n"
    "英伟达（Nvidia）周三公布，截至7月30日的第二财季营收达到135亿美元，同比增长101%。"
    "数据中心业务收入103.2亿美元，占总营收的76%。公司预计第三财季营收约160亿美元。"
)
EN = (
    "Nvidia second-quarter revenue hits $13.5 billion, up 101%\n"
    "Nvidia said on Wednesday that revenue for the second fiscal quarter ended July 30 reached"
    " $13.5 billion, up 101 percent from a year earlier. Data center revenue was $10.32 billion,"
    " 76% of the total. The company expects third-quarter revenue of about $16 billion."
)
# Same event (Nvidia's results), another story: an analyst's view with other figures.
EN_OTHER = (
    "Analysts say Nvidia's rally may have further to run\n"
    "Shares of Nvidia rose 3.2% in early trading as analysts at two brokers lifted their"
    " price targets to $600 and $650, citing demand for AI chips that could last into 2025."
)


def test_numbers_are_compared_by_value_across_languages() -> None:
    zh = xl.anchors("营收12亿元，增长80%，2023年")
    en = xl.anchors("revenue of 1.2 billion yuan, up 80 percent, in 2023")
    assert zh.numbers == en.numbers == {"n:1.2e+09", "p:80", "n:2023"}


def test_small_plain_numbers_are_not_anchors() -> None:
    assert xl.anchors("三家公司在5个城市").numbers == frozenset()
    assert xl.anchors("up 5%").numbers == {"p:5"}


def test_latin_names_in_chinese_text_are_anchors() -> None:
    found = xl.anchors("台积电（TSMC）与OpenAI合作，GPT-5和U.S.市场")
    assert {"tsmc", "openai", "gpt-5", "u.s"} <= found.latin
    assert xl.anchors("II型糖尿病与Ⅲ期试验").latin == frozenset()


def test_a_translation_agrees_and_is_the_same_story() -> None:
    verdict = xl.decide(0.6, xl.anchors(ZH), xl.anchors(EN))
    assert verdict.same, verdict.reason
    assert verdict.agreement.numbers >= 5
    assert verdict.agreement.number_coverage == 1.0
    assert verdict.agreement.name_coverage == 1.0


def test_another_story_on_the_same_event_is_kept_apart() -> None:
    verdict = xl.decide(0.6, xl.anchors(ZH), xl.anchors(EN_OTHER))
    assert not verdict.same
    assert "numbers" in verdict.reason


def test_low_cosine_is_refused_even_when_anchors_agree() -> None:
    verdict = xl.decide(xl.COSINE_FLOOR - 0.01, xl.anchors(ZH), xl.anchors(EN))
    assert not verdict.same and "cosine" in verdict.reason


def test_names_of_the_chinese_text_must_be_in_the_english_one() -> None:
    zh = xl.anchors("据Reuters和Bloomberg报道，Tesla与BYD在2024年卖出180万辆和302万辆，份额12%")
    en = xl.anchors("Tesla sold 1.8 million cars and a rival 3.02 million in 2024, a 12% share")
    agree = xl.agreement(zh, en)
    assert agree.numbers == 4
    assert agree.name_coverage == 0.25
    assert not agree.passes()
    assert "name coverage" in agree.failure()


def test_too_few_shared_anchors() -> None:
    agree = xl.agreement(xl.anchors("2024年增长15%"), xl.anchors("grew 15% in 2024"))
    assert agree.numbers == 2 and agree.shared == 2
    assert not agree.passes()


def test_window_needs_both_dates() -> None:
    assert xl.in_window(0, 3 * DAY)
    assert not xl.in_window(0, 3 * DAY + 1)
    assert not xl.in_window(None, 0)
    assert not xl.in_window(0, None)


def _unit(*rows: list[float]) -> np.ndarray:
    m = np.array(rows, dtype=np.float32)
    return m / np.linalg.norm(m, axis=1, keepdims=True)


def test_mutual_nearest_neighbours_only() -> None:
    zh = _unit([1, 0, 0], [0.9, 0.1, 0], [0, 0, 1])
    en = _unit([1, 0.05, 0], [0, 0.2, 1])
    pairs = xl.mutual_pairs(zh, en, [0, 0, 0], [0, 0], cosine_floor=0.5)
    # zh 1's best is en 0, but en 0 prefers zh 0: only (0, 0) and (2, 1) are mutual.
    assert [(i, j) for i, j, _ in pairs] == [(0, 0), (2, 1)]


def test_mutual_pairs_respect_the_window_and_undated_documents() -> None:
    zh = _unit([1, 0], [0, 1])
    en = _unit([1, 0], [0, 1])
    assert xl.mutual_pairs(zh, en, [0, 0], [4 * DAY, 0], cosine_floor=0.5) == [(1, 1, 1.0)]
    assert xl.mutual_pairs(zh, en, [None, 0], [0, None], cosine_floor=0.5) == []


def test_mutual_pairs_respect_the_cosine_floor() -> None:
    zh = _unit([1, 0])
    en = _unit([1, 1])
    assert xl.mutual_pairs(zh, en, [0], [0], cosine_floor=0.8) == []
    assert len(xl.mutual_pairs(zh, en, [0], [0], cosine_floor=0.7)) == 1


def test_eval_scores_count_wmt_recall_and_every_wrong_pair() -> None:
    from newsdesk.evaluation import crosslingual as ev

    positives = frozenset({("wmt-a-zh", "wmt-a-en"), ("wmt-b-zh", "wmt-b-en")})
    pairs = [("wmt-a-zh", "wmt-a-en", 0.7), ("rss-1", "rss-2", 0.6), ("wmt-b-zh", "rss-3", 0.5)]
    s = ev.score(pairs, positives)
    assert (s.predicted, s.correct, s.precision, s.recall) == (3, 1, 1 / 3, 0.5)
    judged = ev.score(pairs, positives | {("rss-1", "rss-2")})
    assert (judged.correct, judged.recall) == (2, 0.5)  # recall stays over WMT pairs
    assert [w[:2] for w in judged.wrong] == [("wmt-b-zh", "rss-3")]


@pytest.mark.skipif(not SHARED_DATA.is_dir(), reason="../shared/data is absent")
def test_eval_set_dates_wmt_pairs_and_keeps_feed_times() -> None:
    from newsdesk.evaluation import crosslingual as ev

    evalset = ev.load_set(SHARED_DATA, "2026-06-01", "2026-06-07")
    assert len(evalset.positives) == 97
    items = {it.id: it for it in evalset.items}
    for zh, en in evalset.positives:
        assert items[zh].ts == items[en].ts is not None
    days = {items[zh].ts for zh, _ in evalset.positives}
    assert len(days) == ev.WMT_DAYS
    feeds = [it for it in evalset.items if it.group == "rss"]
    assert feeds and {it.lang for it in feeds} == {"zh", "en"}
    assert all(len(it.title) + len(it.body) >= ev.MIN_CHARS for it in feeds)
    assert ev._judged(ev.load_set(SHARED_DATA, "2026-06-01", "2026-06-30"))
