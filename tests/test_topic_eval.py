"""The topic evaluation's own code: metrics on hand-made examples, the stored set's shape."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from click.testing import CliRunner

from conftest import SHARED_DATA
from newsdesk.cli import cli
from newsdesk.errors import InputError
from newsdesk.evaluation import topics
from newsdesk.evaluation.topics import (
    Topic,
    graded_ndcg,
    load_qrels,
    load_topics,
    page_coverage,
    page_precision,
    split_topics,
    within,
)


def test_graded_ndcg_by_hand() -> None:
    grades = {"a": 2, "b": 1, "c": 0}
    # c (0) at rank 1, a (2) at rank 2, an unjudged id at rank 3: gain 2/log2(3).
    # Ideal: a then b = 2/log2(2) + 1/log2(3).
    got = graded_ndcg(["c", "a", "x"], grades)
    assert got == pytest.approx(1.2618595 / 2.6309298, abs=1e-6)
    assert graded_ndcg(["a", "b"], grades) == pytest.approx(1.0)
    # Swapping the two relevant ones loses: b first costs the grade difference.
    assert graded_ndcg(["b", "a"], grades) == pytest.approx(
        (1 + 2 / math.log2(3)) / (2 + 1 / math.log2(3))
    )
    assert graded_ndcg(["x", "y"], grades) == 0.0
    assert graded_ndcg(["a"], {"a": 0}) == 0.0
    # Only the first k count.
    assert graded_ndcg(["x", "a"], grades, k=1) == 0.0


def test_page_precision_and_coverage_by_hand() -> None:
    grades = {"a": 2, "b": 1, "c": 0, "d": 1}
    # Judged 0 and unjudged both count as not relevant.
    assert page_precision(["a", "c", "x", "b"], grades) == 0.5
    assert page_precision([], grades) == 0.0
    assert page_coverage(["a", "c", "x", "b"], grades) == pytest.approx(2 / 3)
    # Many relevant: coverage is against a full page of them.
    many = {str(i): 1 for i in range(25)}
    assert page_coverage([str(i) for i in range(5)], many) == 0.5
    assert page_coverage(["x"], {}) == 0.0


def test_within_two_times() -> None:
    assert within(6, 3) and within(2, 3) and within(3, 3)
    assert not within(7, 3) and not within(1, 3)
    assert within(0, 0) and not within(1, 0)


def _fake(n: int, lang: str) -> list[Topic]:
    return [Topic(f"{lang}{i:02d}", f"q{i}", lang, "d") for i in range(n)]


def test_split_is_a_balanced_deterministic_half() -> None:
    every = _fake(7, "zh") + _fake(4, "en") + _fake(3, "mixed")
    dev, test = split_topics(every, "dev"), split_topics(every, "test")
    assert {t.id for t in dev} | {t.id for t in test} == {t.id for t in every}
    assert not {t.id for t in dev} & {t.id for t in test}
    for lang, n in (("zh", 7), ("en", 4), ("mixed", 3)):
        assert abs(sum(t.lang == lang for t in dev) - sum(t.lang == lang for t in test)) <= 1
        assert sum(t.lang == lang for t in dev) == (n + 1) // 2
    assert split_topics(list(reversed(every)), "dev") == dev
    assert split_topics(every, "all") == every
    with pytest.raises(InputError):
        split_topics(every, "train")


def test_stored_topics_and_judgments_are_well_formed() -> None:
    stored = load_topics()
    ids = [t.id for t in stored]
    assert len(ids) == len(set(ids)) >= 33
    assert {t.lang for t in stored} <= set(topics.LANGS)
    zh = sum(t.lang != "en" for t in stored)
    assert 0.55 <= zh / len(stored) <= 0.75  # about two thirds Chinese (incl. mixed)
    assert all(t.description.strip() and t.query.strip() for t in stored)
    qrels = load_qrels()
    assert set(qrels) <= set(ids)
    for tid in ids:
        assert any(g > 0 for g in qrels.get(tid, {}).values()), f"{tid} has nothing relevant"
    for judged in qrels.values():
        assert all(d.startswith("rss-") and len(d) == 16 for d in judged)


def test_qrels_reader_rejects_bad_lines(tmp_path: Path) -> None:
    bad = tmp_path / "q.tsv"
    bad.write_text("t01\trss-0\t3\n", encoding="utf-8")
    with pytest.raises(InputError, match=r"q\.tsv:1"):
        load_qrels(bad)


@pytest.mark.shared_data
@pytest.mark.skipif(not SHARED_DATA.is_dir(), reason=f"shared data not found at {SHARED_DATA}")
def test_every_judged_document_is_in_the_corpus() -> None:
    docs = topics.load_corpus(SHARED_DATA)
    ids = {str(d["id"]) for d in docs}
    assert len(docs) == len(ids) >= 5000
    missing = {d for judged in load_qrels().values() for d in judged} - ids
    assert not missing


@pytest.mark.shared_data
@pytest.mark.slow
@pytest.mark.skipif(not SHARED_DATA.is_dir(), reason=f"shared data not found at {SHARED_DATA}")
def test_eval_retrieval_topics_command(tmp_path: Path) -> None:
    args = ["--home", str(tmp_path / "home"), "eval", "retrieval", "--data", str(SHARED_DATA)]
    result = CliRunner().invoke(
        cli, [*args, "--set", "topics", "--max-docs", "150", "--topics-split", "test", "--json"]
    )
    assert result.exit_code == 0, result.output
    (topic_set,) = json.loads(result.stdout)["sets"]
    assert topic_set["set"] == "topics" and topic_set["split"] == "test"
    assert 140 <= topic_set["documents"] <= 150
    test_ids = {t.id for t in split_topics(load_topics(), "test")}
    scored = {row["id"] for row in topic_set["per_topic"]}
    assert scored | set(topic_set["without_relevant"]) == test_ids
    assert set(topic_set["ndcg@10"]) == {"lexical", "semantic", "hybrid"}
    page = topic_set["newest_page"]
    assert 0 <= page["precision"] <= 1 and 0 <= page["coverage"] <= 1
    for row in topic_set["per_topic"]:
        assert row["relevant"] >= 1 and row["total"] >= 0
    # The table form prints the same figures per language.
    table = CliRunner().invoke(
        cli, [*args, "--set", "topics", "--max-docs", "150", "--topics-split", "dev"]
    )
    assert table.exit_code == 0, table.output
    assert "topics (dev)" in table.output and "bm25" in table.output
