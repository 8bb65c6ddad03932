"""The topic evaluation: analyst-style topic queries with graded judgments made by reading.

The corpus is every item of ``fin_rss_multisource`` (5,873 Chinese and English RSS
items with their publish times), read from the shared data folder and never copied.
The topics (``topics.jsonl``: id, query, lang, description) and the judgments
(``topics_qrels.tsv``: topic id, document id, grade) are the project's own, stored
beside this module. Grades: 2 mainly about the topic, 1 a substantial part or a clear
instance, 0 a passing mention or another subject; unjudged documents count as not
relevant. How the pools were made is in ``bench/topics.md``.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from newsdesk.errors import InputError
from newsdesk.evaluation.datasets import EvalSet, _jsonl, _need

HERE = Path(__file__).parent
TOPICS_FILE = HERE / "topics.jsonl"
QRELS_FILE = HERE / "topics_qrels.tsv"
SPLITS = ("all", "dev", "test")


@dataclass(frozen=True)
class Topic:
    id: str
    query: str
    lang: str  # zh | en | mixed
    description: str


def corpus_id(link: str) -> str:
    """A stable document id from the item's link (every link in the corpus is unique)."""
    return "rss-" + hashlib.sha1(link.encode("utf-8")).hexdigest()[:12]


def load_corpus(root: Path, max_docs: int | None = None) -> list[dict[str, Any]]:
    """The fin_rss_multisource items as ingestable field dicts, newest first (file order).

    ``max_docs`` keeps the first that many (the newest); a fixed, reproducible slice.
    """
    path = _need(root / "fin_rss_multisource" / "articles.jsonl.gz")
    docs: list[dict[str, Any]] = []
    for row in _jsonl(path):
        if max_docs is not None and len(docs) >= max_docs:
            break
        title = str(row.get("title") or "").strip()
        paragraphs = [p for p in row.get("paragraphs") or [] if p.strip()]
        doc: dict[str, Any] = {
            "id": corpus_id(row["link"]),
            "title": title or paragraphs[0][:80],
            "paragraphs": paragraphs or [title],
            "lang": row["lang"],
            "published_at": row["published_iso"],
        }
        if row.get("source"):
            doc["source"] = row["source"]
        docs.append(doc)
    return docs


def load_topics(path: Path = TOPICS_FILE) -> list[Topic]:
    topics = []
    for row in _jsonl(path):
        topics.append(Topic(row["id"], row["query"], row["lang"], row["description"]))
    return topics


def load_qrels(path: Path = QRELS_FILE) -> dict[str, dict[str, int]]:
    """topic id -> {document id: grade}, only the judged ones (grade 0 included)."""
    qrels: dict[str, dict[str, int]] = {}
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip() or line.startswith("#"):
            continue
        parts = line.split("\t")
        if len(parts) != 3 or parts[2] not in ("0", "1", "2"):
            raise InputError(f"{path.name}:{n}: expected 'topic<TAB>document<TAB>grade'")
        qrels.setdefault(parts[0], {})[parts[1]] = int(parts[2])
    return qrels


def split_topics(topics: list[Topic], split: str) -> list[Topic]:
    """A deterministic half split: within each language, alternate topics by id.

    ``dev`` for tuning, ``test`` for reporting, ``all`` for both.
    """
    if split not in SPLITS:
        raise InputError(f"topics split must be one of {', '.join(SPLITS)}, got {split!r}")
    if split == "all":
        return list(topics)
    chosen = []
    for lang in sorted({t.lang for t in topics}):
        same = sorted((t for t in topics if t.lang == lang), key=lambda t: t.id)
        chosen += same[0 if split == "dev" else 1 :: 2]
    return sorted(chosen, key=lambda t: t.id)


def load_topic_set(root: Path, split: str = "all", max_docs: int | None = None) -> EvalSet:
    """The corpus, the topics of ``split`` and their graded judgments as an :class:`EvalSet`.

    ``qrels`` holds the relevant ids (grade >= 1); ``extra['grades']`` every grade and
    ``extra['topics']`` the :class:`Topic` records.
    """
    topics = split_topics(load_topics(), split)
    graded = load_qrels()
    docs = load_corpus(root, max_docs)
    present = {str(d["id"]) for d in docs}
    grades = {
        t.id: {d: g for d, g in graded.get(t.id, {}).items() if d in present} for t in topics
    }
    return EvalSet(
        "topics",
        docs,
        {t.id: t.query for t in topics},
        {t.id: {d for d, g in grades[t.id].items() if g > 0} for t in topics},
        metrics=("ndcg@10",),
        notes=f"{len(topics)} analyst topics ({split}) over fin_rss_multisource, graded by reading",
        extra={"grades": grades, "topics": {t.id: t for t in topics}},
    )


def topics_json(topics: list[Topic]) -> str:
    """The topics file's text (one JSON object a line), for writing it back sorted."""
    return "".join(
        json.dumps(
            {"id": t.id, "query": t.query, "lang": t.lang, "description": t.description},
            ensure_ascii=False,
        )
        + "\n"
        for t in topics
    )
