"""Standard ranking metrics over binary relevance; pure functions."""

from __future__ import annotations

import math
from collections.abc import Collection, Sequence


def recall_at(ranked: Sequence[str], relevant: Collection[str], k: int) -> float:
    if not relevant:
        return 0.0
    return len(set(ranked[:k]) & set(relevant)) / len(relevant)


def precision_at(ranked: Sequence[str], relevant: Collection[str], k: int) -> float:
    """Relevant hits among the first ``k`` ranks, over ``k`` (short lists are not excused)."""
    return len(set(ranked[:k]) & set(relevant)) / k


def ndcg_at(ranked: Sequence[str], relevant: Collection[str], k: int) -> float:
    if not relevant:
        return 0.0
    gain = sum(1.0 / math.log2(i + 2) for i, d in enumerate(ranked[:k]) if d in relevant)
    ideal = sum(1.0 / math.log2(i + 2) for i in range(min(k, len(relevant))))
    return gain / ideal


def set_f1(kept: Collection[str], relevant: Collection[str]) -> tuple[float, float, float]:
    """Precision, recall and F1 of a kept set against the relevant set."""
    hit = len(set(kept) & set(relevant))
    p = hit / len(kept) if kept else 0.0
    r = hit / len(relevant) if relevant else 0.0
    return p, r, (2 * p * r / (p + r) if p + r else 0.0)
