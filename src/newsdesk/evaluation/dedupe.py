"""Near-duplicate grouping, measured on real articles with realistic edits.

The evaluation set is built at run time from the shared evaluation data (never
stored in the repository):

* **bases**: real articles (CCTV 新闻联播 stories; full-text Chinese and English
  feed items from fin_rss_multisource);
* **positives**: for each base, one or two syndicated-looking copies, each with two
  or three edits a republishing site really makes: its own boilerplate (source
  line, 责任编辑, share bar, "Reporting by"), a paragraph cut or added, punctuation
  changed (full/half width, quotes), converted to traditional characters, two
  sentences or paragraphs swapped;
* **hard negatives**: different stories that look alike: CCTV stories with the
  same headline on different days (daily reports, recurring meetings, follow-ups)
  and feed items from the same source with near-identical headlines.

Grouping is scored over pairs: precision is the share of pairs put in one story that
really are one story; recall the share of true same-story pairs that were grouped.
``simulate`` replays the engine's rule (LSH band candidates, then the best signature
match at or above a threshold) for a threshold sweep; ``run_engine`` ingests the set
through a real :class:`~newsdesk.engine.Engine` for the headline numbers.
"""

from __future__ import annotations

import gzip
import json
import random
import re
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from itertools import combinations
from pathlib import Path
from typing import Any

import numpy as np
import opencc

from newsdesk import dedupe
from newsdesk.config import load_settings
from newsdesk.engine import open_engine
from newsdesk.errors import InputError
from newsdesk.ingest.normalize import RawRecord

Edit = Callable[[list[str], random.Random, str], list[str]]


@dataclass(frozen=True, slots=True)
class EvalDoc:
    id: str
    story: str  # the gold story: the base's id for a base and its copies
    title: str
    paragraphs: tuple[str, ...]
    lang: str
    kind: str  # "base", "copy" or "negative"
    edits: tuple[str, ...] = ()
    published: str = ""  # ISO 8601 publish time, as the source gave it


@dataclass
class EvalSet:
    docs: list[EvalDoc] = field(default_factory=list)
    hard_pairs: list[tuple[str, str]] = field(default_factory=list)
    # Which kind of look-alike each hard pair is (same index as ``hard_pairs``).
    hard_kinds: list[str] = field(default_factory=list)

    def add_hard(self, a: str, b: str, kind: str) -> None:
        self.hard_pairs.append((a, b))
        self.hard_kinds.append(kind)

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = defaultdict(int)
        for d in self.docs:
            out[d.kind] += 1
        return dict(out)


@dataclass(frozen=True, slots=True)
class Scores:
    precision: float
    recall: float
    f1: float
    true_pairs: int
    predicted_pairs: int
    correct_pairs: int
    hard_pairs: int
    hard_merged: int
    recall_by_edit: dict[str, float]
    hard_merged_by_kind: dict[str, tuple[int, int]] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "precision": round(self.precision, 4),
            "recall": round(self.recall, 4),
            "f1": round(self.f1, 4),
            "true_pairs": self.true_pairs,
            "predicted_pairs": self.predicted_pairs,
            "correct_pairs": self.correct_pairs,
            "hard_negative_pairs": self.hard_pairs,
            "hard_negative_pairs_merged": self.hard_merged,
            "recall_by_edit": {k: round(v, 4) for k, v in sorted(self.recall_by_edit.items())},
            "hard_negatives_merged_by_kind": {
                k: {"merged": m, "pairs": n}
                for k, (m, n) in sorted(self.hard_merged_by_kind.items())
            },
        }


# -- edits a republishing site makes -----------------------------------------------------
_ZH_HEAD = ["（来源：新华网）", "央视网消息：", "【环球网报道】", "本报讯", "（记者 李明）"]
_ZH_TAIL = [
    "责任编辑：王小明",
    "（本文来源：人民日报客户端）",
    "分享到：微信 微博 QQ空间",
    "【纠错】",
    "扫一扫，关注我们的公众号",
]
_EN_HEAD = ["By Staff Reporter", "(Reuters) -", "LONDON —"]
_EN_TAIL = [
    "Reporting by Jane Doe; Editing by John Smith",
    "Read more: Markets wrap",
    "Sign up for our daily newsletter.",
    "© 2025 Example Media. All rights reserved.",
]
_ZH_PUNCT = str.maketrans({"，": ",", "。": ".", "；": ";", "：": ":", "“": '"', "”": '"'})
_EN_PUNCT = str.maketrans({'"': "“", "'": "’", "-": "–"})
_SENTENCE = re.compile(r"[^。！？!?.]+[。！？!?.]?")
_to_traditional = opencc.OpenCC("s2t").convert


def _boilerplate(paras: list[str], rng: random.Random, lang: str) -> list[str]:
    head, tail = (_ZH_HEAD, _ZH_TAIL) if lang == "zh" else (_EN_HEAD, _EN_TAIL)
    out = list(paras)
    if rng.random() < 0.6:
        out.insert(0, rng.choice(head))
    out.extend(rng.sample(tail, k=rng.randint(1, 2)))
    return out


def _cut(paras: list[str], rng: random.Random, lang: str) -> list[str]:
    if len(paras) < 3:
        # A short story loses its last sentence instead of a whole paragraph.
        sentences = _SENTENCE.findall(paras[-1])
        return [*paras[:-1], "".join(sentences[:-1])] if len(sentences) > 1 else list(paras)
    drop = rng.randrange(1, len(paras))
    return [p for i, p in enumerate(paras) if i != drop]


def _swap(paras: list[str], rng: random.Random, lang: str) -> list[str]:
    out = list(paras)
    if len(out) >= 3:
        i = rng.randrange(1, len(out) - 1)
        out[i], out[i + 1] = out[i + 1], out[i]
        return out
    i = rng.randrange(len(out))
    sentences = _SENTENCE.findall(out[i])
    if len(sentences) >= 2:
        j = rng.randrange(len(sentences) - 1)
        sentences[j], sentences[j + 1] = sentences[j + 1], sentences[j]
        out[i] = "".join(sentences)
    return out


def _punctuation(paras: list[str], rng: random.Random, lang: str) -> list[str]:
    table = _ZH_PUNCT if lang == "zh" else _EN_PUNCT
    return [p.translate(table) for p in paras]


def _traditional(paras: list[str], rng: random.Random, lang: str) -> list[str]:
    return [_to_traditional(p) for p in paras] if lang == "zh" else _punctuation(paras, rng, lang)


EDITS: dict[str, Edit] = {
    "boilerplate": _boilerplate,
    "cut": _cut,
    "added": lambda paras, rng, lang: paras,  # filled in with another article's paragraph
    "punctuation": _punctuation,
    "traditional": _traditional,
    "reorder": _swap,
}


def make_copy(
    base: EvalDoc, rng: random.Random, n: int, filler: Sequence[str], edits: Sequence[str]
) -> EvalDoc:
    """A syndicated copy of ``base`` with ``len(edits)`` edits applied."""
    paras = list(base.paragraphs)
    for name in edits:
        if name == "added":
            # A republisher's background paragraph, here from another real article.
            paras.insert(rng.randint(1, len(paras)), rng.choice(filler))
        else:
            paras = EDITS[name](paras, rng, base.lang)
    paras = [p for p in paras if p.strip()]
    return EvalDoc(
        id=f"{base.id}~copy{n}",
        story=base.story,
        title=base.title,
        paragraphs=tuple(paras),
        lang=base.lang,
        kind="copy",
        edits=tuple(edits),
        # Republished the same day or up to two days later.
        published=_later(base.published, rng.uniform(0, 2)),
    )


def _later(published: str, days: float) -> str:
    if not published:
        return ""
    moment = datetime.fromisoformat(published)
    return (moment + timedelta(days=days)).isoformat()


# -- reading the real articles -----------------------------------------------------------
def _read_jsonl_gz(path: Path) -> Iterable[dict[str, Any]]:
    with gzip.open(path, "rt", encoding="utf-8") as fh:
        for line in fh:
            yield json.loads(line)


def _bigrams(text: str) -> set[str]:
    t = re.sub(r"\W+", "", text.lower())
    return {t[i : i + 2] for i in range(len(t) - 1)}


def _long_enough(paras: Sequence[str]) -> bool:
    return len(paras) >= 2 and sum(len(p) for p in paras) >= 200


def build_set(data_dir: Path, *, bases: int = 500, negatives: int = 150, seed: int = 7) -> EvalSet:
    """Build the evaluation set from ``data_dir`` (the shared evaluation data folder).

    Raises:
        InputError: the data folder lacks cctv_xwlb or fin_rss_multisource.
    """
    cctv_path = data_dir / "cctv_xwlb" / "xwlb_stories.jsonl.gz"
    rss_path = data_dir / "fin_rss_multisource" / "articles.jsonl.gz"
    for path in (cctv_path, rss_path):
        if not path.exists():
            raise InputError(f"evaluation data not found: {path}")
    rng = random.Random(seed)
    cctv = [r for r in _read_jsonl_gz(cctv_path) if _long_enough(r["paragraphs"])]
    rss = [
        r
        for r in _read_jsonl_gz(rss_path)
        if len(r["paragraphs"]) >= 3 and _long_enough(r["paragraphs"])
    ]

    # Hard negatives: the same headline on different days (CCTV), near-identical
    # headlines from one source (feeds). Exact re-broadcasts of one text are left out.
    by_title: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in cctv:
        by_title[r["title"]].append(r)
    groups = [
        g for t, g in by_title.items() if len({r["date"] for r in g}) >= 2 and "快讯" not in t
    ]
    rng.shuffle(groups)
    negs: list[EvalDoc] = []
    out = EvalSet()
    used: set[str] = set()
    for group in groups:
        if len(negs) >= negatives:
            break
        seen_text: set[str] = set()
        picked = []
        # Two reports on neighbouring days (a daily report, a meeting's two days) and
        # one from any other day.
        ordered = sorted(group, key=lambda r: r["date"])
        k = rng.randrange(len(ordered) - 1)
        neighbours = [ordered[k], ordered[k + 1]]
        rest = [r for r in group if r not in neighbours]
        for r in neighbours + rng.sample(rest, k=min(len(rest), 1)):
            text = "".join(r["paragraphs"])
            if text in seen_text:
                continue
            seen_text.add(text)
            picked.append(r)
        if len(picked) < 2:
            continue
        for r in picked:
            used.add(r["id"])
            negs.append(_doc(r, r["id"], "zh", "negative"))
        within = {r["id"] for r in neighbours}
        for a, b in combinations([r["id"] for r in picked], 2):
            near_days = a in within and b in within
            out.add_hard(
                a, b, "same headline, next day" if near_days else "same headline, other day"
            )
    # Follow-ups within days: different headlines sharing most of their words, published
    # in the same week (the time window cannot tell these apart; only the text can).
    by_day: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in cctv:
        if "快讯" not in r["title"]:
            by_day[r["date"]].append(r)
    days = sorted(by_day)
    week_pairs = []
    for k, day in enumerate(days):
        near = [r for d in days[k : k + 4] for r in by_day[d]]
        grams = [_bigrams(r["title"]) for r in near]
        for i in range(len(by_day[day])):
            for j in range(i + 1, len(near)):
                gi, gj = grams[i], grams[j]
                similar = bool(gi and gj) and len(gi & gj) / len(gi | gj) >= 0.4
                if similar and near[i]["title"] != near[j]["title"]:
                    week_pairs.append((near[i], near[j]))
    rng.shuffle(week_pairs)
    for a, b in week_pairs:
        if len(negs) >= negatives * 1.6:
            break
        if a["id"] in used or b["id"] in used:
            continue
        for r in (a, b):
            used.add(r["id"])
            negs.append(_doc(r, r["id"], "zh", "negative"))
        out.add_hard(a["id"], b["id"], "similar headline, same week")
    by_source: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for i, r in enumerate(rss):
        r["_id"] = f"rss{i}"
        by_source[r["source"]].append(r)
    rss_pairs = []
    for items in by_source.values():
        grams = [_bigrams(r["title"]) for r in items]
        for i, j in combinations(range(len(items)), 2):
            gi, gj = grams[i], grams[j]
            similar = bool(gi and gj) and len(gi & gj) / len(gi | gj) >= 0.5
            if similar and items[i]["paragraphs"] != items[j]["paragraphs"]:
                rss_pairs.append((items[i], items[j]))
    rng.shuffle(rss_pairs)
    for a, b in rss_pairs:
        if len(negs) >= negatives * 2:
            break
        if a["_id"] in used or b["_id"] in used:
            continue
        for r in (a, b):
            used.add(r["_id"])
            negs.append(_doc(r, r["_id"], r["lang"], "negative"))
        out.add_hard(a["_id"], b["_id"], "feed: same source, similar headline")

    # Bases: distinct headlines only, so no two bases are secretly the same story.
    title_count: dict[str, int] = defaultdict(int)
    for r in cctv:
        title_count[r["title"]] += 1
    for r in rss:
        title_count[r["title"]] += 1
    pool_cctv = [r for r in cctv if title_count[r["title"]] == 1 and r["id"] not in used]
    pool_rss = [r for r in rss if title_count[r["title"]] == 1 and r["_id"] not in used]
    zh_rss = [r for r in pool_rss if r["lang"] == "zh"]
    en_rss = [r for r in pool_rss if r["lang"] == "en"]
    n_cctv = bases * 3 // 5
    n_rss = (bases - n_cctv) // 2
    chosen = (
        [(r["id"], r, "zh") for r in rng.sample(pool_cctv, min(n_cctv, len(pool_cctv)))]
        + [(r["_id"], r, "zh") for r in rng.sample(zh_rss, min(n_rss, len(zh_rss)))]
        + [(r["_id"], r, "en") for r in rng.sample(en_rss, min(n_rss, len(en_rss)))]
    )
    filler = {
        lang: [p for _, r, lg in chosen if lg == lang for p in r["paragraphs"] if len(p) > 40]
        for lang in ("zh", "en")
    }
    names = list(EDITS)
    for doc_id, r, lang in chosen:
        base = _doc(r, doc_id, lang, "base")
        out.docs.append(base)
        for n in range(1, rng.choice((1, 2)) + 1):
            edits = rng.sample(names, k=rng.choice((2, 3)))
            out.docs.append(make_copy(base, rng, n, filler[lang], edits))
    out.docs.extend(negs)
    rng.shuffle(out.docs)
    return out


def _doc(r: dict[str, Any], doc_id: str, lang: str, kind: str) -> EvalDoc:
    published = str(r.get("published_iso") or r.get("date") or "")
    return EvalDoc(doc_id, doc_id, r["title"], tuple(r["paragraphs"]), lang, kind, (), published)


# -- scoring -----------------------------------------------------------------------------
def _pairs(groups: dict[str, str]) -> set[tuple[str, str]]:
    members: dict[str, list[str]] = defaultdict(list)
    for doc_id, group in groups.items():
        members[group].append(doc_id)
    return {tuple(sorted(p)) for m in members.values() for p in combinations(m, 2)}  # type: ignore[misc]


def score(evalset: EvalSet, predicted: dict[str, str]) -> Scores:
    """Pairwise precision and recall of ``predicted`` (doc id -> story) against gold."""
    gold = {d.id: d.story for d in evalset.docs}
    true_pairs = _pairs(gold)
    pred_pairs = _pairs({k: v for k, v in predicted.items() if k in gold})
    correct = true_pairs & pred_pairs
    precision = len(correct) / len(pred_pairs) if pred_pairs else 1.0
    recall = len(correct) / len(true_pairs) if true_pairs else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    hard = {tuple(sorted(p)) for p in evalset.hard_pairs}
    by_kind: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for pair, kind in zip(evalset.hard_pairs, evalset.hard_kinds, strict=True):
        by_kind[kind][1] += 1
        by_kind[kind][0] += tuple(sorted(pair)) in pred_pairs
    edits_of = {d.id: d.edits for d in evalset.docs}
    by_edit: dict[str, list[bool]] = defaultdict(list)
    for a, b in true_pairs:
        for edit in set(edits_of[a]) | set(edits_of[b]):
            by_edit[edit].append((a, b) in pred_pairs)
    return Scores(
        precision=precision,
        recall=recall,
        f1=f1,
        true_pairs=len(true_pairs),
        predicted_pairs=len(pred_pairs),
        correct_pairs=len(correct),
        hard_pairs=len(hard),
        hard_merged=len(hard & pred_pairs),
        recall_by_edit={k: sum(v) / len(v) for k, v in by_edit.items()},
        hard_merged_by_kind={k: (v[0], v[1]) for k, v in by_kind.items()},
    )


def _timestamp(published: str) -> int | None:
    if not published:
        return None
    moment = datetime.fromisoformat(published)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp())


def simulate(
    evalset: EvalSet,
    threshold: float = dedupe.SAME_STORY,
    signatures: dict[str, tuple[np.ndarray, int]] | None = None,
    window: int | None = dedupe.STORY_WINDOW,
) -> dict[str, str]:
    """Group the set in its order with the engine's rule; returns doc id -> story."""
    sigs = signatures or {d.id: dedupe.fingerprint(d.paragraphs) for d in evalset.docs}
    stamps = {d.id: _timestamp(d.published) for d in evalset.docs}
    buckets: dict[tuple[int, int], list[str]] = defaultdict(list)
    story: dict[str, str] = {}
    for d in evalset.docs:
        sig, n = sigs[d.id]
        keys = list(enumerate(dedupe.band_keys(sig))) if n >= dedupe.MIN_SHINGLES else []
        candidates = sorted(
            c
            for c in {c for key in keys for c in buckets[key]}
            if dedupe.close_in_time(stamps[d.id], stamps[c], window)
        )
        match = dedupe.best_match(sig, [(story[c], sigs[c][0]) for c in candidates], threshold)
        story[d.id] = match[0] if match else d.id
        for key in keys:
            buckets[key].append(d.id)
    return story


def similarity_profile(
    evalset: EvalSet, signatures: dict[str, tuple[np.ndarray, int]]
) -> dict[str, list[float]]:
    """Estimated similarity of every true pair and every hard-negative pair."""
    gold = {d.id: d.story for d in evalset.docs}
    same = [dedupe.similarity(signatures[a][0], signatures[b][0]) for a, b in _pairs(gold)]
    hard = [dedupe.similarity(signatures[a][0], signatures[b][0]) for a, b in evalset.hard_pairs]
    return {"same_story": same, "hard_negative": hard}


def run_engine(evalset: EvalSet, home: Path) -> dict[str, str]:
    """Ingest the set through a real engine in ``home``; returns doc id -> story id."""
    records = [
        RawRecord(
            origin=d.id,
            fields={
                "id": re.sub(r"[^A-Za-z0-9._:@-]", "_", d.id),
                "title": d.title,
                "paragraphs": list(d.paragraphs),
                "lang": d.lang,
                **({"published_at": d.published} if d.published else {}),
            },
        )
        for d in evalset.docs
    ]
    settings = load_settings(home=home, overrides={"ingest_workers": 1}, environ={})
    with open_engine(settings) as engine:
        report = engine.ingest_records(records)
        # An exact copy is not stored: it belongs to the story of the document it copies.
        stored_as = {
            r.origin: (r.duplicate_of if r.outcome == "duplicate" else r.doc_id)
            for r in report.results
        }
        story_of = engine.store.story_of([v for v in stored_as.values() if v])
    # A document that failed to ingest is grouped with nothing.
    return {d.id: story_of.get(stored_as.get(d.id, ""), d.id) for d in evalset.docs}
