"""Quality gate: near-duplicate grouping on real articles with realistic edits.

A fixed, modest subset of ``newsdesk eval dedupe`` (the full run and the threshold
sweep are in bench/dedupe.md). Floors sit just below the measured values; lower one
only on purpose, in its own commit that says why.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from conftest import SHARED_DATA
from newsdesk.evaluation import dedupe as evaluation

# Measured on this subset (seed 7: 120 bases, 185 copies, 77 look-alike pairs):
# precision 1.000, recall 0.976 (简繁 copies 0.980), look-alikes merged 0.
PRECISION_FLOOR = 0.99
RECALL_FLOOR = 0.95


@pytest.mark.shared_data
def test_grouping_precision_and_recall_floors(tmp_path: Path) -> None:
    if not (SHARED_DATA / "cctv_xwlb").exists():
        pytest.skip(f"shared evaluation data not found at {SHARED_DATA}")
    evalset = evaluation.build_set(SHARED_DATA, bases=120, negatives=60, seed=7)
    counts = evalset.counts()
    assert counts["base"] == 120 and counts["copy"] >= 120 and len(evalset.hard_pairs) >= 40
    scores = evaluation.score(evalset, evaluation.run_engine(evalset, tmp_path / "home"))
    assert scores.precision >= PRECISION_FLOOR, scores.to_json()
    assert scores.recall >= RECALL_FLOOR, scores.to_json()
    assert scores.hard_merged == 0, scores.hard_merged_by_kind
    # 简繁 copies are found as well as the rest (folding works end to end).
    assert scores.recall_by_edit["traditional"] >= RECALL_FLOOR


def test_scoring_counts_pairs() -> None:
    docs = [
        evaluation.EvalDoc("a", "s1", "t", ("x",), "zh", "base"),
        evaluation.EvalDoc("b", "s1", "t", ("x",), "zh", "copy", ("cut",)),
        evaluation.EvalDoc("c", "s1", "t", ("x",), "zh", "copy", ("traditional",)),
        evaluation.EvalDoc("d", "d", "t", ("y",), "zh", "negative"),
    ]
    evalset = evaluation.EvalSet(docs=docs)
    evalset.add_hard("a", "d", "same headline, next day")
    scores = evaluation.score(evalset, {"a": "g1", "b": "g1", "c": "g2", "d": "g1"})
    # Predicted pairs: ab, ad, bd; true pairs: ab, ac, bc.
    assert (scores.predicted_pairs, scores.true_pairs, scores.correct_pairs) == (3, 3, 1)
    assert scores.precision == pytest.approx(1 / 3) and scores.recall == pytest.approx(1 / 3)
    assert scores.hard_merged == 1
    assert scores.recall_by_edit == {"cut": 0.5, "traditional": 0.0}
