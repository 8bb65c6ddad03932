"""Near-duplicate grouping: the chosen configuration beside ablations, on one set.

Usage (from the repository root)::

    .venv/bin/python bench/dedupe.py [--seed 7]

Builds the evaluation set of ``newsdesk eval dedupe`` (real articles from
../shared/data with realistic edits, plus look-alike hard negatives) and replays
the engine's grouping rule with: the chosen configuration; without the 7-day time
window; without 简繁 folding; and the walking skeleton's guesses (16 bands of 4,
threshold 0.5, neither window nor folding). Pairwise precision/recall for each.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from newsdesk import dedupe
from newsdesk.evaluation import dedupe as evaluation

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def run(
    evalset: evaluation.EvalSet,
    label: str,
    *,
    bands: int,
    rows: int,
    threshold: float,
    window: int | None,
    fold: bool,
) -> None:
    saved = dedupe.BANDS, dedupe.ROWS, dedupe._to_simplified
    dedupe.BANDS, dedupe.ROWS = bands, rows
    if not fold:
        dedupe._to_simplified = str
    try:
        sigs = {d.id: dedupe.fingerprint(d.paragraphs) for d in evalset.docs}
        s = evaluation.score(evalset, evaluation.simulate(evalset, threshold, sigs, window))
    finally:
        dedupe.BANDS, dedupe.ROWS, dedupe._to_simplified = saved
    trad = s.recall_by_edit.get("traditional", 0.0)
    print(
        f"| {label} | {s.precision:.3f} | {s.recall:.3f} | {s.f1:.3f} | "
        f"{s.hard_merged}/{s.hard_pairs} | {trad:.3f} |"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    if not DATA.exists():
        print(f"evaluation data not found at {DATA}", file=sys.stderr)
        return 2
    evalset = evaluation.build_set(DATA, seed=args.seed)
    print(f"set: {evalset.counts()}, {len(evalset.hard_pairs)} look-alike pairs, seed {args.seed}")
    print("| configuration | precision | recall | F1 | look-alikes merged | recall (简繁 copies) |")
    print("|---|---|---|---|---|---|")
    week = 7 * 86400
    run(
        evalset,
        "chosen: 21x3 bands, 0.45, 7-day window, 简繁 fold",
        bands=21,
        rows=3,
        threshold=0.45,
        window=week,
        fold=True,
    )
    run(
        evalset, "without the time window", bands=21, rows=3, threshold=0.45, window=None, fold=True
    )
    run(evalset, "without 简繁 folding", bands=21, rows=3, threshold=0.45, window=week, fold=False)
    run(
        evalset,
        "16x4 bands (skeleton's LSH), 0.45, window, fold",
        bands=16,
        rows=4,
        threshold=0.45,
        window=week,
        fold=True,
    )
    run(
        evalset,
        "skeleton's guesses: 16x4, 0.5, no window, no fold",
        bands=16,
        rows=4,
        threshold=0.5,
        window=None,
        fold=False,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
