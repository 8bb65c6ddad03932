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
import math
import statistics
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from newsdesk.errors import InputError
from newsdesk.evaluation.datasets import EvalSet, _jsonl, _need
from newsdesk.search import SearchRequest, parse_request

if TYPE_CHECKING:
    from newsdesk.engine import Engine

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
    grades = {t.id: {d: g for d, g in graded.get(t.id, {}).items() if d in present} for t in topics}
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


# --- scoring --------------------------------------------------------------------------

PAGE = 10
RELEVANCE_MODES = ("lexical", "semantic", "hybrid")
# Languages topics are reported by; "mixed" topics mix Chinese and Latin words.
LANGS = ("zh", "en", "mixed")


def graded_ndcg(ranked: Sequence[str], grades: Mapping[str, int], k: int = PAGE) -> float:
    """nDCG@k with the grade as the gain (linear), the ideal from every judged grade.

    Unjudged ids gain nothing; a topic with no relevant judgment scores 0.
    """
    ideal_gains = sorted((g for g in grades.values() if g > 0), reverse=True)[:k]
    ideal = sum(g / math.log2(i + 2) for i, g in enumerate(ideal_gains))
    if ideal == 0:
        return 0.0
    gain = sum(grades.get(d, 0) / math.log2(i + 2) for i, d in enumerate(ranked[:k]))
    return gain / ideal


def page_precision(shown: Sequence[str], grades: Mapping[str, int]) -> float:
    """Relevant (grade >= 1) shown over shown; an empty page is 0 (every topic has some)."""
    if not shown:
        return 0.0
    return sum(1 for d in shown if grades.get(d, 0) > 0) / len(shown)


def page_coverage(shown: Sequence[str], grades: Mapping[str, int], k: int = PAGE) -> float:
    """Relevant shown over min(relevant, k): how much of a full page of them was shown."""
    relevant = sum(1 for g in grades.values() if g > 0)
    if relevant == 0:
        return 0.0
    return sum(1 for d in shown[:k] if grades.get(d, 0) > 0) / min(relevant, k)


def within(total: int, truth: int, factor: float = 2.0) -> bool:
    """``total`` is within ``factor`` x of ``truth`` (both ways)."""
    if truth == 0:
        return total == 0
    return truth / factor <= total <= truth * factor


@dataclass
class TopicRun:
    """One topic's results, as story ids, and the story grades they are scored against."""

    topic: Topic
    grades: dict[str, int]
    bm25: list[str]
    relevance: dict[str, list[str]]
    newest: list[str]
    total: int
    retrieval: str = ""

    @property
    def relevant(self) -> int:
        return sum(1 for g in self.grades.values() if g > 0)


def _story_ids(engine: Engine, ids: Sequence[str]) -> list[str]:
    """Document ids -> their story ids, first copy of each story only, order kept."""
    story_of = engine.store.story_of(list(ids))
    out: list[str] = []
    for d in ids:
        story = story_of.get(d) or d
        if story not in out:
            out.append(story)
    return out


def collect_topics(
    engine: Engine,
    evalset: EvalSet,
    stored: Mapping[str, str],
    progress: Callable[[int], None] | None = None,
) -> list[TopicRun]:
    """Run every topic through the engine's own searches (as the CLI runs them).

    BM25 is the lexical index alone (tantivy + jieba, titles boosted), without the
    cut-off; each mode is ``search --sort relevance --mode M``; the page is the default
    search (newest first, ``default_limit`` results, copies merged).
    """
    grades_of: dict[str, dict[str, int]] = evalset.extra["grades"]
    topics: dict[str, Topic] = evalset.extra["topics"]
    judged = [stored[d] for g in grades_of.values() for d in g if d in stored]
    story_of = engine.store.story_of(judged)
    settings = engine.settings
    runs = []
    for tid, query in evalset.queries.items():
        grades: dict[str, int] = {}
        for d, g in grades_of[tid].items():
            if d in stored:
                story = story_of.get(stored[d]) or stored[d]
                grades[story] = max(g, grades.get(story, 0))
        parsed = parse_request(SearchRequest(query=query))
        lexical = engine.lexical.search(parsed.lexical, 5 * PAGE)
        bm25 = _story_ids(engine, [h.id for h in lexical])[:PAGE]
        relevance = {}
        retrieval = ""
        for mode in RELEVANCE_MODES:
            found = engine.search(SearchRequest(query, sort="relevance", limit=PAGE, mode=mode))
            relevance[mode] = _story_ids(engine, [h.document.id for h in found.hits])
        page = engine.search(
            SearchRequest(query, sort=settings.default_sort, limit=settings.default_limit)
        )
        retrieval = page.retrieval
        newest = _story_ids(engine, [h.document.id for h in page.hits])
        runs.append(TopicRun(topics[tid], grades, bm25, relevance, newest, page.total, retrieval))
        if progress is not None:
            progress(1)
    return runs


def _mean(values: Sequence[float]) -> float:
    return round(statistics.fmean(values), 4) if values else 0.0


def _summary(runs: Sequence[TopicRun]) -> dict[str, Any]:
    modes = {
        m: _mean([graded_ndcg(r.relevance[m], r.grades) for r in runs]) for m in RELEVANCE_MODES
    }
    bm25 = _mean([graded_ndcg(r.bm25, r.grades) for r in runs])
    ratios = [r.total / r.relevant for r in runs if r.relevant]
    return {
        "topics": len(runs),
        "bm25_ndcg@10": bm25,
        "ndcg@10": modes,
        "vs_bm25": {m: round(v / bm25, 3) if bm25 else 0.0 for m, v in modes.items()},
        "newest_page": {
            "precision": _mean([page_precision(r.newest, r.grades) for r in runs]),
            "coverage": _mean([page_coverage(r.newest, r.grades) for r in runs]),
            "total_within_2x": _mean([float(within(r.total, r.relevant)) for r in runs]),
            "median_total_over_relevant": round(statistics.median(ratios), 2) if ratios else 0.0,
            "relevant_median": statistics.median([r.relevant for r in runs]) if runs else 0,
        },
    }


def topic_report(runs: Sequence[TopicRun]) -> dict[str, Any]:
    """Overall and per-language figures, and one row per topic, JSON-ready.

    Topics with no relevant document in the corpus (possible in a ``max_docs`` slice)
    are left out of the means and counted in ``without_relevant``.
    """
    without = [r.topic.id for r in runs if not r.relevant]
    runs = [r for r in runs if r.relevant]
    result = _summary(runs)
    result["without_relevant"] = without
    result["by_lang"] = {
        lang: _summary(same)
        for lang in LANGS
        if (same := [r for r in runs if r.topic.lang == lang])
    }
    result["per_topic"] = [
        {
            "id": r.topic.id,
            "query": r.topic.query,
            "lang": r.topic.lang,
            "relevant": r.relevant,
            "total": r.total,
            "bm25": round(graded_ndcg(r.bm25, r.grades), 4),
            **{m: round(graded_ndcg(r.relevance[m], r.grades), 4) for m in RELEVANCE_MODES},
            "precision": round(page_precision(r.newest, r.grades), 4),
            "coverage": round(page_coverage(r.newest, r.grades), 4),
        }
        for r in runs
    ]
    return result
