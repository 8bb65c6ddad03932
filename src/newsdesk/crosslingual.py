"""The same story in Chinese and in English: pure decisions, no I/O.

A Chinese document and an English one are one story (a translation, or the other
outlet's version of the same article) only when two kinds of evidence agree:

1. **Meaning**: each is the other's nearest neighbour by embedding cosine among the
   documents of the other language published within :data:`WINDOW` of it (mutual
   nearest neighbours), at a cosine of at least :data:`COSINE_FLOOR`;
2. **Anchors** that survive translation: numbers compared by value across languages
   and units (``12亿`` = ``1.2 billion``, ``80%`` = ``80 percent``, years, dates) with
   the repository's number reader (:func:`newsdesk.summarize.verify.quantities`), and
   Latin names or tickers written inside the Chinese text (``Nvidia``, ``TSMC``,
   ``GPT-5``) found again in the English text. At least :data:`MIN_SHARED` anchors
   must be shared, at least :data:`MIN_NUMBERS` of them numbers, covering at least
   :data:`MIN_COVERAGE` of the numbers of the side with fewer, and at least
   :data:`MIN_NAME_COVERAGE` of the Chinese text's names must be in the English one.

Two different stories on the same event (a report and a commentary, two outlets'
own reporting) are close in meaning but rarely share most of their figures, so the
anchors keep them apart; a merge shown wrongly is worse than a pair left apart.
The thresholds were set by measurement (``newsdesk eval crosslingual``,
bench/crosslingual.md). Undated documents are never paired: the window cannot be
checked.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from newsdesk.summarize.verify import quantities

# Copies of one story in two languages appear within days of each other (seconds).
WINDOW = 3 * 86400
# Lowest cosine of a pair, and the anchor thresholds below: set on WMT21 translations
# against real same-event feed items (bench/crosslingual.md). A translation keeps
# nearly every figure (number coverage ~1.0 on WMT21), two outlets' own stories on
# one event do not; the names rule stops pairs that share actors but not facts.
COSINE_FLOOR = 0.4
# Anchors (numbers and names) both versions must share, of which numbers; the share
# of the numbers of the side with fewer found in the other; the share of the Chinese
# text's Latin names found in the English text.
MIN_SHARED = 3
MIN_NUMBERS = 2
MIN_COVERAGE = 0.8
MIN_NAME_COVERAGE = 0.5
# Plain numbers up to this value are counts and days of the month that any two
# stories share; they are not anchors (percentages and scaled amounts are).
_SMALL = 10.0
# Bump when the decision changes, so that stored pairings can be told apart.
VERSION = 1

PARAMS: dict[str, float | int] = {
    "version": VERSION,
    "window": WINDOW,
    "cosine_floor": COSINE_FLOOR,
    "min_shared": MIN_SHARED,
    "min_numbers": MIN_NUMBERS,
    "min_coverage": MIN_COVERAGE,
    "min_name_coverage": MIN_NAME_COVERAGE,
}

# A Latin name or ticker: two or more letters/digits starting with a letter, inner
# dots, hyphens and ampersands allowed ("U.S.", "GPT-5", "AT&T").
_ROMAN = re.compile(r"[ivxlc]+")
_LATIN = re.compile(r"(?<![A-Za-z0-9])[A-Za-z][A-Za-z0-9]*(?:[.&\-][A-Za-z0-9]+)*\.?")


@dataclass(frozen=True, slots=True)
class Anchors:
    """What of a text survives translation: numbers by value and Latin words."""

    numbers: frozenset[str]
    # Latin words, lower case: in a Chinese text its names and tickers; in an
    # English text every word (to look the Chinese side's names up in).
    latin: frozenset[str]


@dataclass(frozen=True, slots=True)
class Agreement:
    """How the anchors of a Chinese and an English text agree."""

    numbers: int  # numbers found in both
    number_coverage: float  # of the side with fewer numbers
    names: int  # Latin names of the Chinese text found in the English one
    name_coverage: float  # of the Chinese text's names (1.0 when it has none)

    @property
    def shared(self) -> int:
        return self.numbers + self.names

    def passes(
        self,
        min_shared: int = MIN_SHARED,
        min_coverage: float = MIN_COVERAGE,
        min_numbers: int = MIN_NUMBERS,
        min_name_coverage: float = MIN_NAME_COVERAGE,
    ) -> bool:
        return (
            self.shared >= min_shared
            and self.numbers >= min_numbers
            and self.number_coverage >= min_coverage
            and self.name_coverage >= min_name_coverage
        )

    def failure(self) -> str:
        """Why the anchors do not agree ('' when they do)."""
        if self.numbers < MIN_NUMBERS:
            return f"{self.numbers} shared numbers < {MIN_NUMBERS}"
        if self.shared < MIN_SHARED:
            return f"{self.shared} shared anchors < {MIN_SHARED}"
        if self.number_coverage < MIN_COVERAGE:
            return f"number coverage {self.number_coverage:.2f} < {MIN_COVERAGE}"
        if self.name_coverage < MIN_NAME_COVERAGE:
            return f"name coverage {self.name_coverage:.2f} < {MIN_NAME_COVERAGE}"
        return ""


@dataclass(frozen=True, slots=True)
class Verdict:
    """Whether a (Chinese, English) pair is one story, and the evidence."""

    same: bool
    cosine: float
    agreement: Agreement
    reason: str


def _number_key(kind: str, value: float) -> str | None:
    if kind == "number" and abs(value) <= _SMALL:
        return None
    return f"{kind[0]}:{value:.6g}"


def anchors(text: str) -> Anchors:
    """The anchors of ``text`` (a title and its paragraphs, in either language)."""
    numbers = {key for q in quantities(text) if (key := _number_key(q.kind, q.value)) is not None}
    folded = unicodedata.normalize("NFKC", text)
    latin = {m.group(0).rstrip(".").lower() for m in _LATIN.finditer(folded)}
    # Roman numerals ("II型", "Ⅲ期" after NFKC) are numbers a translation may spell out.
    names = {w for w in latin if len(w) >= 2 and not _ROMAN.fullmatch(w)}
    return Anchors(frozenset(numbers), frozenset(names))


def agreement(zh: Anchors, en: Anchors) -> Agreement:
    """Shared anchors of a Chinese text and an English one, and their coverage.

    Numbers are compared by value; their coverage is over the side with fewer
    numbers (an English version may be a shortened one). Names are the Latin words
    of the Chinese text, which a translation keeps: their coverage is the share of
    them found in the English text.
    """
    numbers = len(zh.numbers & en.numbers)
    fewer = min(len(zh.numbers), len(en.numbers))
    names = len(zh.latin & en.latin)
    return Agreement(
        numbers,
        numbers / fewer if fewer else 0.0,
        names,
        names / len(zh.latin) if zh.latin else 1.0,
    )


def decide(
    cosine: float, zh: Anchors, en: Anchors, *, cosine_floor: float = COSINE_FLOOR
) -> Verdict:
    """Whether mutual nearest neighbours at ``cosine`` are one story, by their anchors.

    The caller has already checked that the two are mutual nearest neighbours
    within the window (:func:`mutual_pairs`, or the same search on an index).
    """
    agree = agreement(zh, en)
    if cosine < cosine_floor:
        return Verdict(False, cosine, agree, f"cosine {cosine:.2f} < {cosine_floor}")
    if reason := agree.failure():
        return Verdict(False, cosine, agree, reason)
    return Verdict(True, cosine, agree, "same story")


def in_window(a: int | None, b: int | None, window: int = WINDOW) -> bool:
    """Both publish times known and at most ``window`` seconds apart."""
    return a is not None and b is not None and abs(a - b) <= window


def mutual_pairs(
    zh: NDArray[np.float32],
    en: NDArray[np.float32],
    zh_ts: NDArray[np.int64] | list[int | None],
    en_ts: NDArray[np.int64] | list[int | None],
    *,
    window: int = WINDOW,
    cosine_floor: float = COSINE_FLOOR,
) -> list[tuple[int, int, float]]:
    """(zh row, en row, cosine) of mutual nearest neighbours within ``window``.

    ``zh`` and ``en`` hold unit vectors by row; a publish time of None (undated)
    pairs with nothing. Each Chinese row's best English row inside the window must
    have that Chinese row as its own best Chinese row inside its window.
    """
    if zh.shape[0] == 0 or en.shape[0] == 0:
        return []
    scores = (zh.astype(np.float32) @ en.astype(np.float32).T).astype(np.float64)
    za = np.array([np.nan if t is None else float(t) for t in zh_ts], dtype=np.float64)
    ea = np.array([np.nan if t is None else float(t) for t in en_ts], dtype=np.float64)
    with np.errstate(invalid="ignore"):
        close = np.abs(za[:, None] - ea[None, :]) <= window
    scores[~close] = -np.inf
    best_en = np.argmax(scores, axis=1)
    best_zh = np.argmax(scores, axis=0)
    out = []
    for i, j in enumerate(best_en):
        cos = scores[i, j]
        if np.isfinite(cos) and best_zh[j] == i and cos >= cosine_floor:
            out.append((i, int(j), float(cos)))
    return out


__all__ = [
    "COSINE_FLOOR",
    "MIN_COVERAGE",
    "MIN_NAME_COVERAGE",
    "MIN_NUMBERS",
    "MIN_SHARED",
    "PARAMS",
    "WINDOW",
    "Agreement",
    "Anchors",
    "Verdict",
    "agreement",
    "anchors",
    "decide",
    "in_window",
    "mutual_pairs",
]
