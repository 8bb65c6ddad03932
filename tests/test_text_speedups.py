"""Oracle checks for hot-path rewrites: same output as the straightforward versions."""

from __future__ import annotations

import gzip
import json
import re

import pytest

from conftest import SHARED_DATA
from newsdesk import dedupe
from newsdesk.models import Document, Paragraph
from newsdesk.summarize import extractive
from newsdesk.text import split_sentences, tokenize

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
            for s in extractive._sentences(doc, "en"):
                assert s.tokens == frozenset(tokenize(s.text)), s.text
                checked += 1
    assert checked > 3000
