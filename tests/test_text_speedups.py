"""Oracle checks for hot-path rewrites: same output as the straightforward versions."""

from __future__ import annotations

import gzip
import json
import re

import pytest
import rjieba

from conftest import SHARED_DATA
from newsdesk import dedupe
from newsdesk.index.lexical import index_terms
from newsdesk.models import Document, Paragraph
from newsdesk.summarize import extractive
from newsdesk.text import search_expansion, segment, split_sentences, tokenize

_ZH_SENT_END = "。！？；!?"
_ABBREV_END = re.compile(
    r"(?:\b(?:Mr|Mrs|Ms|Dr|Prof|St|Inc|Co|Corp|Ltd|Jr|Sr|vs|etc|No|Jan|Feb|Mar|Apr|Jun|Jul|Aug"
    r"|Sep|Sept|Oct|Nov|Dec)|\b[A-Z](?:\.[A-Z])*)\.$"
)
_EN_SENT = re.compile(r"(?<=[.!?])[\"'”’)]?\s+(?=[\"'“‘(]?[A-Z0-9])")


def reference_split(text: str) -> list[str]:
    """The original character-loop sentence splitter, kept as the oracle."""
    text = text.strip()
    if not text:
        return []
    parts: list[str] = []
    buf: list[str] = []
    closers = "”’」』）)\"'"
    i = 0
    while i < len(text):
        ch = text[i]
        buf.append(ch)
        if ch in _ZH_SENT_END:
            while i + 1 < len(text) and text[i + 1] in closers:
                i += 1
                buf.append(text[i])
            parts.append("".join(buf))
            buf = []
        i += 1
    if buf:
        parts.append("".join(buf))
    sentences: list[str] = []
    for part in parts:
        for s in _EN_SENT.split(part):
            s = s.strip()
            if not s:
                continue
            if sentences and _ABBREV_END.search(sentences[-1]):
                sentences[-1] = f"{sentences[-1]} {s}"
            else:
                sentences.append(s)
    return sentences


TRICKY = [
    "",
    "   ",
    "没有句号的一段话",
    "他说：“好的。”然后离开了。",
    "问题？！答案。。",
    "“真的吗？”她问。'Yes!' he said.",
    "Mr. Smith went to Washington. He arrived at 3 p.m. on Monday.",
    "价格上涨12%；成交量下降。",
    "结尾是引号」",
    "。开头就是句号",
    "!!!",
    "U.S. officials said so. Markets rose 2.5% in Q3. (See table.) Done",
]


@pytest.mark.parametrize("text", TRICKY)
def test_split_sentences_matches_reference(text: str) -> None:
    assert split_sentences(text) == reference_split(text)


@pytest.mark.shared_data
def test_split_sentences_matches_reference_on_real_paragraphs() -> None:
    path = SHARED_DATA / "fin_rss_multisource" / "articles.jsonl.gz"
    if not path.exists():
        pytest.skip(f"shared evaluation data not found at {path}")
    checked = 0
    with gzip.open(path, "rt", encoding="utf-8") as fh:
        for i, line in enumerate(fh):
            if i % 5:
                continue
            for p in json.loads(line)["paragraphs"]:
                assert split_sentences(p) == reference_split(p), p
                checked += 1
    assert checked > 5000


def _reference_codes(text: str) -> list[int]:
    out = []
    for unit in dedupe._UNIT.findall(dedupe.fold(text)):
        if len(unit) == 1 and not unit.isascii():
            out.append(ord(unit))
            continue
        h = 0
        for i, ch in enumerate(unit[: dedupe._MAX_WORD]):
            h = (h + (ord(ch) + 1) * pow(dedupe._WORD_BASE, i, 2**64)) % 2**64
        for ch in unit[dedupe._MAX_WORD :]:
            h = (h + (ord(ch) + 1) * pow(dedupe._WORD_BASE, dedupe._MAX_WORD - 1, 2**64)) % 2**64
        out.append((h & 0xFFFF_FFFF_FFFF) | (1 << 48))
    return out


@pytest.mark.parametrize(
    "text",
    [
        "",
        "，。！",
        "Nvidia的H20芯片 sales rose 12% in Q3；英伟达表示 ok2go a-b 中文",
        "中華人民共和國 ＡＢＣ１２３ 全角",
        "x" * 100 + " 长词之后",
        "a",
        "只有中文",
    ],
)
def test_vectorised_units_match_the_regex(text: str) -> None:
    assert dedupe._unit_codes(text).tolist() == _reference_codes(text)


@pytest.mark.shared_data
def test_extractive_sentences_match_per_sentence_tokenizing() -> None:
    """The one-call-per-paragraph tokenizing gives every sentence its own tokens."""
    path = SHARED_DATA / "fin_rss_multisource" / "articles.jsonl.gz"
    if not path.exists():
        pytest.skip(f"shared evaluation data not found at {path}")
    checked = 0
    with gzip.open(path, "rt", encoding="utf-8") as fh:
        for i, line in enumerate(fh):
            if i % 7:
                continue
            row = json.loads(line)
            if not row["paragraphs"]:
                continue
            doc = Document(
                id="x",
                title=row["title"],
                paragraphs=tuple(Paragraph(n, t) for n, t in enumerate(row["paragraphs"], 1)),
            )
            seg = segment(doc.title, [p.text for p in doc.paragraphs])
            for s in extractive._sentences(doc, "en", seg):
                assert s.tokens == frozenset(tokenize(s.text)), s.text
                checked += 1
    assert checked > 3000


_MIXED = [
    "中华人民共和国国家发展和改革委员会今天发布了新能源汽车产业发展规划。",
    "The semiconductor industry's supply chains are shifting; TSMC said so. 台积电表示，"
    "先进制程的产能利用率在第三季度回升至85%以上！",
    "  全角ＡＢＣ１２３与半角混排，数据中心、人工智能和云计算是重点。  ",
    "U.S. regulators (the S.E.C.) reviewed it. Prices rose 3.5 percent.",
    "",
    "重庆市人民政府办公厅关于印发《成渝地区双城经济圈建设规划纲要》的通知？是的。",
]


@pytest.mark.parametrize("split", [1, 2, 3])
def test_one_segmentation_gives_the_index_terms(split: int) -> None:
    """The index terms derived from the summary's tokens equal jieba's search mode."""
    title, paragraphs = _MIXED[0], _MIXED[split:] + _MIXED[:split]
    seg = segment(title, paragraphs)
    expected = index_terms(title, "\n".join(paragraphs))
    assert seg.index_title() == expected.title_terms
    assert seg.index_body() == expected.body_terms
    assert len(seg.index_body().split()) > len(seg.paragraphs[0].all_tokens())


def test_search_expansion_is_jiebas_search_mode() -> None:
    for run in ["中华人民共和国国务院新闻办公室", "新能源汽车", "数据中心", "国家发展和改革委员会"]:
        assert [t for w in rjieba.cut(run) for t in search_expansion(w)] == rjieba.cut_for_search(
            run
        )
    # A word of the default mode over three characters carries its sub-words.
    assert len(search_expansion("中华人民共和国")) > 3


@pytest.mark.shared_data
def test_one_segmentation_matches_index_terms_on_real_articles() -> None:
    """On real mixed Chinese/English articles (every 13th of the set)."""
    path = SHARED_DATA / "fin_rss_multisource" / "articles.jsonl.gz"
    if not path.exists():
        pytest.skip(f"shared evaluation data not found at {path}")
    checked = 0
    with gzip.open(path, "rt", encoding="utf-8") as fh:
        for i, line in enumerate(fh):
            if i % 13:
                continue
            row = json.loads(line)
            seg = segment(row["title"], row["paragraphs"])
            expected = index_terms(row["title"], "\n".join(row["paragraphs"]))
            assert (seg.index_title(), seg.index_body()) == (
                expected.title_terms,
                expected.body_terms,
            ), row["title"]
            checked += 1
    assert checked > 300
