"""Text utilities shared by ingest, index and summaries: tokens, sentences, language."""

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

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


@functools.lru_cache(maxsize=65536)
def search_expansion(word: str) -> tuple[str, ...]:
    """What jieba's search mode emits for a word of its default mode: the dictionary
    words of two (and, for words over three characters, three) characters inside
    it, then the word itself. ``tokenize(text, for_index=True)`` equals the default
    mode's tokens each expanded so (checked by a test), which lets one segmentation
    serve both the index and the summary. News vocabulary repeats, hence the cache.
    """
    n = len(word)
    if n <= 2 or not _CJK.match(word):
        return (word,)
    has_word = rjieba.has_word
    grams = [word[i : i + 2] for i in range(n - 1) if has_word(word[i : i + 2])]
    if n > 3:
        grams += [word[i : i + 3] for i in range(n - 2) if has_word(word[i : i + 3])]
    grams.append(word)
    return tuple(grams)


def index_tokens(tokens: Sequence[str]) -> list[str]:
    """Index-time terms from default-mode tokens (stopwords already removed)."""
    out: list[str] = []
    for token in tokens:
        if len(token) <= 2:
            out.append(token)
            continue
        out.extend(t for t in search_expansion(token) if t not in STOPWORDS)
    return out


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


# A token no sentence contains, placed between sentences so that one tokenize() call
# per paragraph yields each sentence's tokens (the tokenizer never joins text across
# spaces, and a Latin word never merges with Chinese): identical to tokenizing each
# sentence on its own (checked by a test), at a fraction of the calls' overhead.
_BREAK = "zqxsentbrkzqx"


def sentence_tokens(sentences: Sequence[str]) -> list[list[str]]:
    """``[tokenize(s) for s in sentences]``, in one tokenizer call."""
    if len(sentences) <= 1:
        return [tokenize(s) for s in sentences]
    if any(_BREAK in s for s in sentences):
        return [tokenize(s) for s in sentences]
    token_lists: list[list[str]] = [[]]
    for token in tokenize(f" {_BREAK} ".join(sentences)):
        if token == _BREAK:
            token_lists.append([])
        else:
            token_lists[-1].append(token)
    if len(token_lists) != len(sentences):
        return [tokenize(s) for s in sentences]
    return token_lists


@dataclass(frozen=True, slots=True)
class SegmentedParagraph:
    """One paragraph split into whole sentences (``semicolons=False``), each with
    its default-mode tokens (stopwords removed)."""

    sentences: tuple[str, ...]
    tokens: tuple[tuple[str, ...], ...]

    def all_tokens(self) -> list[str]:
        return [t for sentence in self.tokens for t in sentence]


@dataclass(frozen=True, slots=True)
class Segmented:
    """A document segmented once, for every stage that needs its words.

    The summarizer scores sentences by ``paragraphs[i].tokens``; the lexical index
    takes :meth:`index_title`/:meth:`index_body`, equal to
    ``tokenize(title, for_index=True)`` and ``tokenize("\\n".join(paragraphs),
    for_index=True)`` (a sentence never splits a word: sentences part at punctuation
    or spaces, which the tokenizer never joins across).
    """

    title: tuple[str, ...]
    paragraphs: tuple[SegmentedParagraph, ...]

    def index_title(self) -> str:
        return " ".join(index_tokens(self.title))

    def index_body(self) -> str:
        return " ".join(t for p in self.paragraphs for t in index_tokens(p.all_tokens()))


def segment(title: str, paragraphs: Sequence[str]) -> Segmented:
    """Sentences and tokens of a document's title and paragraphs, in one pass."""
    parts = []
    for text in paragraphs:
        sentences = split_sentences(text, semicolons=False)
        parts.append(
            SegmentedParagraph(
                tuple(sentences), tuple(tuple(t) for t in sentence_tokens(sentences))
            )
        )
    return Segmented(tuple(tokenize(title)), tuple(parts))
