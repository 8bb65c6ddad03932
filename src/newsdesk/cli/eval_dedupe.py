"""``newsdesk eval dedupe``: precision and recall of near-duplicate grouping."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
from rich.table import Table
from rich.text import Text

from newsdesk.cli._common import CONTEXT, err, handle_errors, out, print_json

if TYPE_CHECKING:
    from newsdesk.evaluation.dedupe import Scores

DEFAULT_THRESHOLDS = "0.3,0.35,0.4,0.45,0.5,0.55,0.6,0.7"


@click.command("dedupe", context_settings=CONTEXT)
@click.option(
    "--data",
    "data_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("../shared/data"),
    show_default=True,
    help="The shared evaluation data folder (cctv_xwlb, fin_rss_multisource).",
)
@click.option(
    "--bases",
    type=click.IntRange(10),
    default=500,
    show_default=True,
    help="Real articles to copy with edits.",
)
@click.option(
    "--negatives",
    type=click.IntRange(0),
    default=150,
    show_default=True,
    help="Look-alike articles (hard negatives) per kind, roughly.",
)
@click.option("--seed", type=int, default=7, show_default=True, help="Seed of edits and samples.")
@click.option(
    "--thresholds",
    default=DEFAULT_THRESHOLDS,
    show_default=True,
    help="Similarity thresholds to sweep (replaying the engine's rule).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the results as JSON.")
@handle_errors
def eval_dedupe(
    data_dir: Path, bases: int, negatives: int, seed: int, thresholds: str, as_json: bool
) -> None:
    """Measure near-duplicate grouping on real articles with realistic edits.

    Builds the set at run time from real articles (copies with boilerplate, cut or
    added paragraphs, punctuation, traditional characters, reordering; look-alike
    stories as hard negatives), ingests it through a real engine in a temporary
    home, and prints pairwise precision and recall, then a threshold sweep.
    """
    from newsdesk import dedupe  # heavy (numpy, opencc, the engine): imported on use
    from newsdesk.evaluation import dedupe as evaluation

    try:
        sweep = [float(t) for t in thresholds.split(",") if t.strip()]
    except ValueError as exc:
        raise click.BadParameter(f"not a list of numbers: {thresholds}") from exc
    err.print("building the evaluation set ...")
    evalset = evaluation.build_set(data_dir, bases=bases, negatives=negatives, seed=seed)
    err.print(f"ingesting {len(evalset.docs)} documents through the engine ...")
    with tempfile.TemporaryDirectory() as tmp:
        engine_scores = evaluation.score(evalset, evaluation.run_engine(evalset, Path(tmp)))
    signatures = {d.id: dedupe.fingerprint(d.paragraphs) for d in evalset.docs}
    rows = [
        (t, evaluation.score(evalset, evaluation.simulate(evalset, t, signatures))) for t in sweep
    ]
    no_window = evaluation.score(
        evalset, evaluation.simulate(evalset, dedupe.SAME_STORY, signatures, window=None)
    )
    result: dict[str, Any] = {
        "set": {**evalset.counts(), "hard_negative_pairs": len(evalset.hard_pairs), "seed": seed},
        "threshold": dedupe.SAME_STORY,
        "engine": engine_scores.to_json(),
        "without_time_window": no_window.to_json(),
        "sweep": [{"threshold": t, **s.to_json()} for t, s in rows],
    }
    if as_json:
        print_json(result)
        return
    _print(result, engine_scores)


def _print(result: dict[str, Any], scores: Scores) -> None:
    counts = result["set"]
    out.print(
        Text(
            f"{counts.get('base', 0)} real articles, {counts.get('copy', 0)} edited copies, "
            f"{counts.get('negative', 0)} look-alikes ({counts['hard_negative_pairs']} pairs)",
            style="bold",
        )
    )
    out.print(
        f"engine (threshold {result['threshold']}): precision {scores.precision:.3f}  "
        f"recall {scores.recall:.3f}  F1 {scores.f1:.3f}  "
        f"look-alike pairs merged {scores.hard_merged}/{scores.hard_pairs}"
    )
    nw = result["without_time_window"]
    out.print(
        f"same threshold without the time window: precision {nw['precision']:.3f}  "
        f"recall {nw['recall']:.3f}  look-alike pairs merged {nw['hard_negative_pairs_merged']}"
    )
    out.print(
        "recall by edit: "
        + ", ".join(f"{k} {v:.3f}" for k, v in sorted(scores.recall_by_edit.items()))
    )
    out.print(
        "look-alikes merged by kind: "
        + ", ".join(f"{k} {m}/{n}" for k, (m, n) in sorted(scores.hard_merged_by_kind.items()))
    )
    table = Table(title="threshold sweep (engine rule replayed)")
    for column in ("threshold", "precision", "recall", "F1", "look-alikes merged"):
        table.add_column(column, justify="right")
    for row in result["sweep"]:
        table.add_row(
            f"{row['threshold']:.2f}",
            f"{row['precision']:.3f}",
            f"{row['recall']:.3f}",
            f"{row['f1']:.3f}",
            str(row["hard_negative_pairs_merged"]),
        )
    out.print(table)
