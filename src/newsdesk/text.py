"""Text utilities shared by ingest, index and summaries: tokens, sentences, language."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterator

import rjieba

_WORD = re.compile(
    r"[0-9a-z\u00c0-\u024f]+(?:[.'’-][0-9a-z\u00c0-\u024f]+)*|[\u3400-\u9fff\uf900-\ufaff]+"
)
_CJK = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")
_LATIN = re.compile(r"[A-Za-z]")
_SPACE = re.compile(r"[ \t\u00a0\u3000]+")

# Function words that carry no topic; dropping them keeps BM25 focused and the index small.
STOPWORDS = frozenset(
    [
        "a",
        "an",
        "and",
        "are",
        "as",
        "at",
        "be",
        "by",
        "for",
        "from",
        "has",
        "have",
        "in",
        "is",
        "it",
        "its",
        "of",
        "on",
        "or",
        "that",
        "the",
        "to",
        "was",
        "were",
        "will",
        "with",
        "this",
        "these",
        "those",
        "which",
        "who",
        "said",
        "says",
        "after",
        "over",
        "into",
        "than",
        "but",
        "not",
        "also",
        "been",
        "的",
        "了",
        "和",
        "与",
        "及",
        "在",
        "是",
        "将",
        "对",
        "等",
        "为",
        "也",
        "而",
        "并",
        "或",
        "其",
        "之",
        "于",
        "以",
        "被",
        "把",
        "从",
        "向",
        "由",
        "中",
        "上",
        "下",
        "年",
        "月",
        "日",
    ]
)


_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\u200b-\u200f\u2028\u2029\ufeff]")


def clean(text: str) -> str:
    """Text as stored and shown: control characters removed, spaces collapsed, trimmed.

    Full-width punctuation is kept, since Chinese readers expect it.
    """
    return _SPACE.sub(" ", _CONTROL.sub("", text).replace("\n", " ")).strip()


def normalize(text: str) -> str:
    """Text as compared: NFKC-folded (full-width to half-width) and cleaned."""
    return clean(unicodedata.normalize("NFKC", text))


def _stem(word: str) -> str:
    # A deliberately light English stemmer: plural folding only, so that
    # "controls" matches "control" without over-merging unrelated words.
    if len(word) > 4 and word.isascii() and word.isalpha():
        if word.endswith("ies"):
            return word[:-3] + "y"
        if word.endswith("sses"):
            return word[:-2]
        if word.endswith("s") and not word.endswith(("ss", "us", "is")):
            return word[:-1]
    return word


def _segments(text: str, for_index: bool) -> Iterator[str]:
    lowered = normalize(text).lower()
    for match in _WORD.finditer(lowered):
        piece = match.group(0)
        if _CJK.match(piece):
            words = rjieba.cut_for_search(piece) if for_index else rjieba.cut(piece)
            yield from words
        else:
            yield _stem(piece)


def tokenize(text: str, *, for_index: bool = False, keep_stopwords: bool = False) -> list[str]:
    """Split mixed Chinese/English text into lowercase search terms.

    Chinese runs are segmented with jieba-rs; at index time its search mode also
    emits the shorter words inside long ones (晶圆厂 -> 晶圆, 晶圆厂) so that a
    query for the shorter word still matches.
    """
    out = []
    for word in _segments(text, for_index):
        if not keep_stopwords and word in STOPWORDS:
            continue
        out.append(word)
    return out


def cjk_ratio(text: str) -> float:
    cjk = len(_CJK.findall(text))
    latin = len(_LATIN.findall(text))
    # One Chinese character carries roughly as much as a short English word.
    total = cjk + latin / 4
    return cjk / total if total else 0.0


# Script-share bounds, set on 5,873 real feed items: every Chinese item scored >= 0.7
# (Latin tickers and names included) and every English one < 0.05, so text between
# the bounds really is written in both languages.
ZH_MIN_SHARE = 0.7
EN_MAX_SHARE = 0.3


def detect_language(text: str) -> str:
    """Return ``zh``, ``en``, ``mixed`` (both in earnest) or ``und`` (no letters)."""
    sample = text[:4000]
    if not _CJK.search(sample) and not _LATIN.search(sample):
        return "und"
    share = cjk_ratio(sample)
    if share >= ZH_MIN_SHARE:
        return "zh"
    return "en" if share < EN_MAX_SHARE else "mixed"


_ZH_SENT_END = "。！？；!?"
_ABBREV_END = re.compile(
    r"(?:\b(?:Mr|Mrs|Ms|Dr|Prof|St|Inc|Co|Corp|Ltd|Jr|Sr|vs|etc|No|Jan|Feb|Mar|Apr|Jun|Jul|Aug"
    r"|Sep|Sept|Oct|Nov|Dec)|\b[A-Z](?:\.[A-Z])*)\.$"
)
_ZH_PART = re.compile(r"[^。！？；!?]*[。！？；!?][”’」』）)\"']*|[^。！？；!?]+")
# Whole sentences: a full-width semicolon joins clauses of one sentence.
_ZH_SENTENCE = re.compile(r"[^。！？!?]*[。！？!?][”’」』）)\"']*|[^。！？!?]+")
_EN_SENT = re.compile(r"(?<=[.!?])[\"'”’)]?\s+(?=[\"'“‘(]?[A-Z0-9])")


def split_sentences(text: str, *, semicolons: bool = True) -> list[str]:
    """Split a paragraph into sentences (Chinese and English punctuation).

    With ``semicolons`` (the default) a Chinese full-width semicolon ends a part too,
    which suits sentence-level measurements; summaries pass ``semicolons=False`` so a
    bullet is always a whole sentence, never a clause cut at "；".
    """
    text = text.strip()
    if not text:
        return []
    # A part runs to a Chinese (or !?) terminator plus any closing quotes after it.
    parts = (_ZH_PART if semicolons else _ZH_SENTENCE).findall(text)
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
