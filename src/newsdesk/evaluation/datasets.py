"""Loaders that turn the shared evaluation folders into (documents, queries, judgments).

The data lives outside the repository (``../shared/data`` by default) and is only
read here; nothing of it is written back into the project. Every loader is
deterministic: the same arguments give the same documents in the same order, so
a fixed subset (``max_docs``, ``max_queries``) is reproducible across runs.
"""

from __future__ import annotations

import gzip
import json
import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from newsdesk.errors import InputError

# FinNL topic labels that name a topic a reader would search for; the broad ones
# (中国, 外国, 公司, 经济 ...) label half the corpus and say nothing about the content.
FINNL_TOPICS = ("虚拟货币", "房地产", "新冠", "外汇", "债券", "能源", "期货", "大盘")

# Reuters topic codes and the words a reader would type for them.
REUTERS_TOPICS: dict[str, str] = {
    "crude": "crude oil",
    "grain": "grain harvest",
    "money-fx": "foreign exchange currency markets",
    "interest": "interest rates",
    "ship": "shipping",
    "trade": "trade deficit",
    "acq": "acquisition merger",
    "earn": "quarterly earnings",
    "sugar": "sugar",
    "coffee": "coffee",
    "gold": "gold",
    "nat-gas": "natural gas",
}

SETS = ("disc", "finnl", "reuters", "wmt")


@dataclass
class EvalSet:
    """Documents to ingest (JSONL-like field dicts), queries, and the relevant ids."""

    name: str
    documents: list[dict[str, Any]]
    queries: dict[str, str]
    qrels: dict[str, set[str]]
    metrics: tuple[str, ...] = ("ndcg@10", "recall@10")
    notes: str = ""
    cross_lingual: bool = False
    extra: dict[str, Any] = field(default_factory=dict)


def _jsonl(path: Path) -> Iterator[dict[str, Any]]:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as fh:
        for line in fh:
            if line.strip():
                yield json.loads(line)


def _need(path: Path) -> Path:
    if not path.exists():
        raise InputError(f"evaluation data not found: {path}")
    return path


def load_disc(root: Path, max_queries: int | None = None) -> EvalSet:
    """DISC-FinLLM: 61 Chinese questions, 159 articles, binary judgments."""
    base = _need(root / "disc_finllm_retrieval")
    docs = []
    for d in _jsonl(base / "docs.jsonl"):
        row: dict[str, Any] = {
            "id": f"disc-{d['doc_id']}",
            "title": d["title"],
            "paragraphs": d["paragraphs"] or [d["title"]],
            "lang": "zh",
        }
        if d.get("date_from_url"):
            row["published_at"] = d["date_from_url"]
        docs.append(row)
    queries = {q["qid"]: q["question"] for q in _jsonl(base / "queries.jsonl")}
    qrels: dict[str, set[str]] = {}
    for line in (base / "qrels.tsv").read_text(encoding="utf-8").splitlines():
        parts = line.split()
        if len(parts) == 4 and parts[3] != "0":
            qrels.setdefault(parts[0], set()).add(f"disc-{parts[2]}")
    keep = sorted(q for q in queries if q in qrels)[:max_queries]
    return EvalSet(
        "disc",
        docs,
        {q: queries[q] for q in keep},
        {q: qrels[q] for q in keep},
        notes="DISC-FinLLM questions -> their 2-3 reference articles",
    )


def _finnl_doc(row: dict[str, Any], split: str) -> dict[str, Any]:
    text = str(row["text"]).strip()
    title = text[:40]
    body = text
    if text.startswith("【") and "】" in text:
        title, _, rest = text[1:].partition("】")
        body = rest.strip() or title
    return {"id": f"finnl-{split}-{row['id']}", "title": title, "paragraphs": [body], "lang": "zh"}


def load_finnl(
    root: Path, splits: tuple[str, ...] = ("eval", "test"), max_docs: int | None = None
) -> EvalSet:
    """BBT-FinCUGE FinNL: topic label as the query, the labelled news as relevant."""
    base = _need(root / "bbt_fincuge")
    docs: list[dict[str, Any]] = []
    qrels: dict[str, set[str]] = {t: set() for t in FINNL_TOPICS}
    for split in splits:
        for row in _jsonl(base / f"finnl_{split}.jsonl"):
            if max_docs is not None and len(docs) >= max_docs:
                break
            doc = _finnl_doc(row, split)
            docs.append(doc)
            for label in row.get("labels", []):
                if label in qrels:
                    qrels[label].add(doc["id"])
    qrels = {t: ids for t, ids in qrels.items() if ids}
    return EvalSet(
        "finnl",
        docs,
        {t: t for t in qrels},
        qrels,
        metrics=("p@10", "ndcg@10", "cutoff_f1"),
        notes=f"FinNL {'+'.join(splits)} topic labels ({', '.join(qrels)})",
    )


def load_reuters(root: Path, max_docs: int | None = None) -> EvalSet:
    """Reuters-21578 ModLewis test split: English topic words -> labelled newswire."""
    base = _need(root / "reuters21578")
    docs: list[dict[str, Any]] = []
    qrels: dict[str, set[str]] = {t: set() for t in REUTERS_TOPICS}
    for row in _jsonl(base / "reuters21578.jsonl.gz"):
        if row["lewissplit"] != "TEST" or row["topics_attr"] != "YES" or not row["paragraphs"]:
            continue
        if max_docs is not None and len(docs) >= max_docs:
            break
        doc: dict[str, Any] = {
            "id": f"reuters-{row['newid']}",
            "title": (row.get("title") or row["paragraphs"][0][:80]).title(),
            "paragraphs": row["paragraphs"],
            "lang": "en",
            "source": "Reuters",
        }
        if row.get("date_iso"):
            doc["published_at"] = row["date_iso"]
        docs.append(doc)
        for topic in row["topics"]:
            if topic in qrels:
                qrels[topic].add(doc["id"])
    qrels = {t: ids for t, ids in qrels.items() if ids}
    return EvalSet(
        "reuters",
        docs,
        {t: REUTERS_TOPICS[t] for t in qrels},
        qrels,
        metrics=("p@10", "ndcg@10", "cutoff_f1"),
        notes="Reuters-21578 test split (topics_attr=YES); topic code -> reader's words",
    )


def load_wmt(
    root: Path,
    haystack: int = 0,
    sentences_per_doc: int = 0,
    max_docs: int | None = None,
) -> EvalSet:
    """WMT21 zh-en: the English title (and optionally sentences) finds its Chinese article.

    ``haystack`` adds that many CCTV 新闻联播 stories (Chinese, unjudged) as distractors.
    ``sentences_per_doc`` adds that many English reference sentences per document as
    extra queries (the longest ones, which say something specific).
    """
    base = _need(root / "wmt21_zhen_news")
    docs: list[dict[str, Any]] = []
    queries: dict[str, str] = {}
    qrels: dict[str, set[str]] = {}
    for d in list(_jsonl(base / "newstest2021_zhen_docs.jsonl"))[:max_docs]:
        doc_id = f"wmt-{d['doc_id']}"
        segments = d["segments"]
        body = [s["zh"] for s in segments[1:]] or [segments[0]["zh"]]
        docs.append({"id": doc_id, "title": d["title_zh"], "paragraphs": body, "lang": "zh"})
        queries[f"{doc_id}:title"] = d["title_en"]
        qrels[f"{doc_id}:title"] = {doc_id}
        longest = sorted(segments[1:], key=lambda s: (-len(s["en"]), s["line"]))
        for s in longest[:sentences_per_doc]:
            qid = f"{doc_id}:{s['line']}"
            queries[qid] = s["en"]
            qrels[qid] = {doc_id}
    if haystack:
        rng = random.Random(4)
        stories = [
            s
            for s in _jsonl(_need(root / "cctv_xwlb" / "xwlb_stories.jsonl.gz"))
            if s.get("paragraphs")
        ]
        for s in rng.sample(stories, min(haystack, len(stories))):
            docs.append(
                {
                    "id": f"cctv-{s['id']}",
                    "title": s["title"],
                    "paragraphs": s["paragraphs"],
                    "lang": "zh",
                    "published_at": s["date"],
                }
            )
    return EvalSet(
        "wmt",
        docs,
        queries,
        qrels,
        metrics=("recall@10", "ndcg@10"),
        notes=f"WMT21 zh-en, English query -> Chinese article; {haystack} CCTV distractors",
        cross_lingual=True,
    )


def load(name: str, root: Path, **kwargs: Any) -> EvalSet:
    loaders = {"disc": load_disc, "finnl": load_finnl, "reuters": load_reuters, "wmt": load_wmt}
    if name not in loaders:
        raise InputError(f"unknown evaluation set {name!r}; choose from {', '.join(SETS)}")
    loaded: EvalSet = loaders[name](root, **kwargs)  # type: ignore[operator]
    return loaded
