"""ROUGE-1/2/L F1 with character tokens for Chinese and word tokens for Latin script.

Our own small implementation (rouge-score drops every non-ASCII character with its
default tokenizer); ``tests/test_eval_summaries.py`` checks it against rouge-score
given the same tokens.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

_TOKEN = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]|[0-9a-z]+(?:\.[0-9]+)?")


def tokens(text: str) -> list[str]:
    """Chinese characters one by one; Latin words and numbers whole; punctuation dropped."""
    return _TOKEN.findall(unicodedata.normalize("NFKC", text).lower())


def _ngrams(toks: Sequence[str], n: int) -> Counter[tuple[str, ...]]:
    return Counter(tuple(toks[i : i + n]) for i in range(len(toks) - n + 1))


def _f1(overlap: float, cand: int, ref: int) -> float:
    if overlap <= 0 or cand == 0 or ref == 0:
        return 0.0
    p, r = overlap / cand, overlap / ref
    return 2 * p * r / (p + r)


def rouge_n(candidate: Sequence[str], reference: Sequence[str], n: int) -> float:
    c, r = _ngrams(candidate, n), _ngrams(reference, n)
    overlap = sum((c & r).values())
    return _f1(overlap, sum(c.values()), sum(r.values()))


def lcs_length(a: Sequence[str], b: Sequence[str]) -> int:
    if len(a) < len(b):
        a, b = b, a
    prev = [0] * (len(b) + 1)
    for x in a:
        cur = [0]
        for j, y in enumerate(b, start=1):
            cur.append(prev[j - 1] + 1 if x == y else max(prev[j], cur[j - 1]))
        prev = cur
    return prev[-1]


def rouge_l(candidate: Sequence[str], reference: Sequence[str]) -> float:
    return _f1(lcs_length(candidate, reference), len(candidate), len(reference))


@dataclass
class RougeTotals:
    """Mean ROUGE-1/2/L F1 over pairs."""

    n: int = 0
    sums: dict[str, float] = field(
        default_factory=lambda: {"rouge1": 0.0, "rouge2": 0.0, "rougeL": 0.0}
    )
    length: int = 0

    def add(self, candidate: str, reference: str) -> None:
        c, r = tokens(candidate), tokens(reference)
        self.n += 1
        self.length += len(c)
        self.sums["rouge1"] += rouge_n(c, r, 1)
        self.sums["rouge2"] += rouge_n(c, r, 2)
        self.sums["rougeL"] += rouge_l(c, r)

    def means(self) -> dict[str, float]:
        out = {k: round(100 * v / self.n, 2) if self.n else 0.0 for k, v in self.sums.items()}
        out["tokens"] = round(self.length / self.n, 1) if self.n else 0.0
        return out


def mean_scores(pairs: Iterable[tuple[str, str]]) -> dict[str, float]:
    totals = RougeTotals()
    for candidate, reference in pairs:
        totals.add(candidate, reference)
    return totals.means()
