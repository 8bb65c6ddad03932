"""Precision and recall of pairing a Chinese story with its English version.

Positives: the 97 WMT21 zh-en documents (a Chinese article and its professional
English translation). WMT has no publish times, so each pair is given one day and
the pairs are spread over :data:`WMT_DAYS` days: every document then has some
thirty other-language documents inside the three-day window as distractors.

Negatives: everything else. Besides the WMT documents against each other, the
Chinese and English items of ``fin_rss_multisource`` (real feeds, 2024-2026) keep
their own publish times: items on the same events (tariffs, chips, central banks)
from Chinese and English outlets within days of each other, which are different
stories (the feeds carry no translations of one another). Items shorter than
:data:`MIN_CHARS` (headline-only feed entries) are left out, as is everything
outside the chosen dates (by default every item is kept).

Both the full decision (mutual nearest neighbours, cosine floor, anchors) and the
embedding-only baseline (mutual nearest neighbours and the floor, no anchors) are
scored on the same vectors. Only ids and scores leave this module, never text.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np

from newsdesk import crosslingual as xl
from newsdesk.evaluation import data as ds
from newsdesk.index.vectors import document_text

# Feed pairs judged by reading to be one story: the Chinese text retells the English
# one (the same facts, figures and people, paragraph after paragraph). Found among
# the pairs the rule or a looser setting of it made; (Chinese link, English link).
JUDGED_SAME: frozenset[tuple[str, str]] = frozenset(
    {
        # Central banks' gold buying in April (WGC): 21 of 22 figures shared.
        (
            "https://wallstreetcn.com/articles/3773823",
            "https://www.zerohedge.com/markets/central-bank-gold-buying-rebounds-april-dramatic-march-selloff",
        ),
        # The US gold hoard tops $1 trillion (Bloomberg's story retold by both).
        (
            "https://wallstreetcn.com/articles/3756487",
            "https://www.zerohedge.com/precious-metals/gold-revaluation-imminent-us-treasury-hoard-tops-1-trillion-first-time",
        ),
    }
)
# Wrong pairs listed in the results, at most.
_LISTED = 20
WMT_DAYS = 10
WMT_START = datetime(2020, 7, 1, 12, tzinfo=UTC)
MIN_CHARS = 200
DEFAULT_SINCE = "2024-01-01"
DEFAULT_UNTIL = "2026-12-31"


@dataclass(frozen=True, slots=True)
class Item:
    id: str
    lang: str  # "zh" | "en"
    title: str
    body: str
    ts: int | None
    group: str  # "wmt" | "rss"
    link: str = ""


@dataclass(frozen=True, slots=True)
class EvalSet:
    items: list[Item]
    positives: frozenset[tuple[str, str]]  # (zh id, en id)

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {"positive_pairs": len(self.positives)}
        for it in self.items:
            key = f"{it.group}_{it.lang}"
            out[key] = out.get(key, 0) + 1
        return out


def load_set(root: Path, since: str = DEFAULT_SINCE, until: str = DEFAULT_UNTIL) -> EvalSet:
    """WMT21 pairs (dated by us) and the real feed items published from ``since`` to
    ``until`` (ISO dates, inclusive)."""
    items: list[Item] = []
    positives: set[tuple[str, str]] = set()
    wmt = root / "wmt21_zhen_news" / "newstest2021_zhen_docs.jsonl"
    for i, d in enumerate(ds.read_jsonl(wmt)):
        segments = d["segments"][1:] or d["segments"][:1]
        ts = int((WMT_START + timedelta(days=i % WMT_DAYS)).timestamp())
        zh_id, en_id = f"wmt-{d['doc_id']}-zh", f"wmt-{d['doc_id']}-en"
        items.append(
            Item(zh_id, "zh", d["title_zh"], "\n".join(s["zh"] for s in segments), ts, "wmt")
        )
        items.append(
            Item(en_id, "en", d["title_en"], "\n".join(s["en"] for s in segments), ts, "wmt")
        )
        positives.add((zh_id, en_id))
    lo = datetime.fromisoformat(since).replace(tzinfo=UTC)
    hi = datetime.fromisoformat(until).replace(tzinfo=UTC) + timedelta(days=1)
    rss = root / "fin_rss_multisource" / "articles.jsonl.gz"
    for n, r in enumerate(ds.read_jsonl(rss)):
        if r.get("lang") not in ("zh", "en") or not r.get("published_iso"):
            continue
        when = datetime.fromisoformat(r["published_iso"])
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        if not lo <= when < hi:
            continue
        body = "\n".join(p for p in r.get("paragraphs") or [] if p.strip())
        if len(r["title"]) + len(body) < MIN_CHARS:
            continue
        ts = int(when.timestamp())
        items.append(Item(f"rss-{n}", r["lang"], r["title"], body, ts, "rss", r["link"]))
    return EvalSet(items, frozenset(positives))


def _judged(evalset: EvalSet) -> frozenset[tuple[str, str]]:
    by_link = {it.link: it.id for it in evalset.items if it.link}
    return frozenset(
        (by_link[z], by_link[e]) for z, e in JUDGED_SAME if z in by_link and e in by_link
    )


@dataclass(frozen=True, slots=True)
class Scores:
    predicted: int
    correct: int
    # Recall is over the WMT pairs (the feeds' same-story pairs are not all known).
    correct_wmt: int
    positives: int
    wrong: tuple[tuple[str, str, float], ...]

    @property
    def precision(self) -> float:
        return self.correct / self.predicted if self.predicted else 1.0

    @property
    def recall(self) -> float:
        return self.correct_wmt / self.positives if self.positives else 0.0

    def to_json(self) -> dict[str, Any]:
        return {
            "pairs_predicted": self.predicted,
            "correct": self.correct,
            "precision": round(self.precision, 4),
            "recall": round(self.recall, 4),
            "wrong_pairs": len(self.wrong),
            "false_pairs": [
                {"zh": z, "en": e, "cosine": round(c, 3)} for z, e, c in self.wrong[:_LISTED]
            ],
        }


def score(pairs: Sequence[tuple[str, str, float]], positives: frozenset[tuple[str, str]]) -> Scores:
    right = [(z, e) in positives for z, e, _ in pairs]
    wmt = sum(r and z.startswith("wmt-") for r, (z, _, _) in zip(right, pairs, strict=True))
    wrong = tuple(p for p, r in zip(pairs, right, strict=True) if not r)
    n_wmt = sum(z.startswith("wmt-") for z, _ in positives)
    return Scores(len(pairs), sum(right), wmt, n_wmt, wrong)


@dataclass(frozen=True, slots=True)
class Candidates:
    """Mutual nearest neighbours above a low floor, with what the decision needs."""

    pairs: list[tuple[str, str, float]]
    agreements: dict[tuple[str, str], xl.Agreement]


def candidates(
    evalset: EvalSet,
    embed: Callable[[list[str]], np.ndarray],
    floor: float,
) -> Candidates:
    """Embed every item as the engine does (title + lead) and pair them."""
    zh = [it for it in evalset.items if it.lang == "zh"]
    en = [it for it in evalset.items if it.lang == "en"]
    zv = embed([document_text(it.title, it.body) for it in zh])
    ev = embed([document_text(it.title, it.body) for it in en])
    found = xl.mutual_pairs(zv, ev, [it.ts for it in zh], [it.ts for it in en], cosine_floor=floor)
    pairs = [(zh[i].id, en[j].id, cos) for i, j, cos in found]
    by_id = {it.id: it for it in evalset.items}
    agreements = {}
    for z, e, _ in pairs:
        za = xl.anchors(f"{by_id[z].title}\n{by_id[z].body}")
        ea = xl.anchors(f"{by_id[e].title}\n{by_id[e].body}")
        agreements[(z, e)] = xl.agreement(za, ea)
    return Candidates(pairs, agreements)


def decided(
    cands: Candidates,
    *,
    cosine_floor: float = xl.COSINE_FLOOR,
    min_coverage: float = xl.MIN_COVERAGE,
    min_name_coverage: float = xl.MIN_NAME_COVERAGE,
    anchors: bool = True,
) -> list[tuple[str, str, float]]:
    """The candidate pairs the rule keeps (``anchors`` False: embedding-only)."""
    return [
        (z, e, c)
        for z, e, c in cands.pairs
        if c >= cosine_floor
        and (
            not anchors
            or cands.agreements[(z, e)].passes(
                min_coverage=min_coverage, min_name_coverage=min_name_coverage
            )
        )
    ]


def evaluate(
    evalset: EvalSet, embed: Callable[[list[str]], np.ndarray], embedder: str
) -> dict[str, Any]:
    """The full rule and the embedding-only baseline, with a sweep of the thresholds.

    Precision is given twice: strict (every feed pair counts as wrong) and with the
    feed pairs judged by reading to be one story (:data:`JUDGED_SAME`) counted right.
    """
    sweep_floors = (0.3, 0.4, 0.5, 0.6)
    cands = candidates(evalset, embed, min(sweep_floors))
    judged = evalset.positives | _judged(evalset)
    full = decided(cands)
    baseline = decided(cands, anchors=False)
    sweep = []
    for floor in sweep_floors:
        for coverage in (0.4, 0.6, 0.8, 0.9):
            for names in (0.0, 0.5, 0.8):
                s = score(
                    decided(
                        cands,
                        cosine_floor=floor,
                        min_coverage=coverage,
                        min_name_coverage=names,
                    ),
                    judged,
                )
                sweep.append(
                    {
                        "cosine_floor": floor,
                        "min_coverage": coverage,
                        "min_name_coverage": names,
                        "precision": round(s.precision, 4),
                        "recall": round(s.correct_wmt / len(evalset.positives), 4),
                        "pairs_predicted": s.predicted,
                    }
                )
    return {
        "embedder": embedder,
        "set": evalset.counts(),
        "rule": dict(xl.PARAMS),
        "full": score(full, evalset.positives).to_json(),
        "full_judged": score(full, judged).to_json(),
        "embedding_only": score(baseline, evalset.positives).to_json(),
        "embedding_only_judged": score(baseline, judged).to_json(),
        "embedding_only_by_floor": {
            f"{f:.2f}": score(decided(cands, cosine_floor=f, anchors=False), judged).to_json()
            for f in sweep_floors
        },
        "judged_same_story": sorted(f"{z} + {e}" for z, e in judged - evalset.positives),
        "sweep": sweep,
    }


__all__ = ["EvalSet", "Item", "Scores", "candidates", "decided", "evaluate", "load_set", "score"]
