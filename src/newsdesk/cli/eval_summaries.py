"""``newsdesk eval numbers`` and ``newsdesk eval summaries``: measure the summaries."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click
from rich.table import Table

from newsdesk.cli._common import CONTEXT, err, handle_errors, out, print_json

SYSTEM_LABELS = {
    "newsdesk_lead_bullet": "newsdesk lead bullet",
    "lead1": "LEAD-1",
    "textrank": "TextRank",
    "newsdesk_lead_section": "newsdesk lead section",
}
DATA_OPTION = click.option(
    "--data",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="The evaluation data folder [default: ../shared/data].",
)


def _confusion_table(title: str, rows: dict[str, dict[str, Any]]) -> Table:
    table = Table(title=title)
    for col in ("set", "cases", "tp", "fp", "fn", "tn", "precision", "recall"):
        table.add_column(col, justify="left" if col == "set" else "right")
    for name, r in rows.items():
        table.add_row(
            name,
            *(str(r[k]) for k in ("cases", "tp", "fp", "fn", "tn")),
            f"{r['precision']:.3f}",
            f"{r['recall']:.3f}",
        )
    return table


@click.command("numbers", context_settings=CONTEXT)
@DATA_OPTION
@click.option(
    "--per-group",
    type=click.IntRange(10, 100_000),
    default=400,
    show_default=True,
    help="Source sentences per group (zh, en, zh->en translations).",
)
@click.option("--seed", type=int, default=5, show_default=True, help="Seed of the alterations.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@handle_errors
def eval_numbers(data: Path | None, per_group: int, seed: int, as_json: bool) -> None:
    """Precision and recall of the number verifier on a labelled set built from real
    sentences: verbatim, unit-converted and translated (supported) against altered
    (unsupported). A flag counts as positive: "this bullet has a number the cited
    paragraph does not support".
    """
    from newsdesk.evaluation.data import resolve_data_dir
    from newsdesk.evaluation.numbers import build_cases, score

    folder = resolve_data_dir(data)
    err.print(f"building the labelled set from {folder} ...")
    report = score(build_cases(folder, per_group=per_group, seed=seed)).to_json()
    if as_json:
        print_json(report)
        return
    out.print(_confusion_table("number verifier", {"all": report["overall"], **report["by_group"]}))
    rates = Table(title="flagged by variant")
    for col in ("variant", "flagged", "cases", "rate"):
        rates.add_column(col)
    for name, r in report["flagged_by_variant"].items():
        rates.add_row(name, str(r["flagged"]), str(r["cases"]), f"{r['rate']:.3f}")
    out.print(rates)


def _keyfacts_table(report: dict[str, Any]) -> Table:
    table = Table(title="key facts a reader must get: ours vs LEAD of the same length")
    cols = ("articles", "facts", "ours", "LEAD", "margin", "median length", "max length")
    table.add_column("set")
    for col in cols:
        table.add_column(col, justify="right")
    for name in ("all", "dev", "test", "zh", "en"):
        r = report[name]
        if not r.get("articles"):
            continue
        table.add_row(
            name,
            str(r["articles"]),
            str(r["facts"]),
            f"{r['coverage']:.3f}",
            f"{r['lead_coverage']:.3f}",
            f"{r['margin']:+.3f}",
            f"{r['median_length_ratio']:.1%}",
            f"{r['max_length_ratio']:.1%}",
        )
    return table


@click.command("keyfacts", context_settings=CONTEXT)
@DATA_OPTION
@click.option("--verbose", is_flag=True, help="List every article with the facts it missed.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@handle_errors
def eval_keyfacts(data: Path | None, verbose: bool, as_json: bool) -> None:
    """Key-fact coverage of the extractive summaries on 30 real articles annotated by
    the project (Chinese financial news, English RSS and newswire): the share of the
    facts a reader must get whose anchor appears in the summary, against LEAD (the
    article's opening) of the same length, with the summaries' length as a share of
    the article. Anchors are offsets and hashes into ../shared/data, never its text.
    """
    from newsdesk.evaluation.data import resolve_data_dir
    from newsdesk.evaluation.keyfacts import keyfacts_report
    from newsdesk.summarize.extractive import ExtractiveSummarizer

    folder = resolve_data_dir(data)
    err.print(f"scoring key facts on {folder} ...")
    report = keyfacts_report(folder, ExtractiveSummarizer().summarize)
    if as_json:
        print_json(report)
        return
    out.print(_keyfacts_table(report))
    for problem in report["drifted"]:
        err.print(f"drifted: {problem}")
    if verbose:
        for a in report["articles"]:
            out.print(
                f"{a['id']:>16} {a['split']:>4} {a['ours']}/{a['facts']} (LEAD {a['lead']})"
                f" {a['length_ratio']:.0%}  missed: {'; '.join(a['missed']) or '-'}"
            )


@click.command("summaries", context_settings=CONTEXT)
@DATA_OPTION
@click.option(
    "--per-source",
    type=click.IntRange(1, 1_000_000),
    default=400,
    show_default=True,
    help="Articles per source for the validity check (3 sources).",
)
@click.option(
    "--per-set",
    type=click.IntRange(1, 1_000_000),
    default=None,
    help="Pairs per ROUGE data set [default: all].",
)
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@handle_errors
def eval_summaries(data: Path | None, per_source: int, per_set: int | None, as_json: bool) -> None:
    """Measure extractive summaries on real data: (a) structure and citation validity
    over news articles (every citation exists, every bullet is whole sentences of its
    cited paragraphs and passes the number verifier, a one-sentence Core Viewpoint,
    the length); (b) ROUGE-1/2/L F1 (character tokens for Chinese) of the lead bullet
    against human references, beside LEAD-1 and TextRank computed in the same run;
    (c) key-fact coverage against LEAD of the same length (as `eval keyfacts`).
    """
    from newsdesk.evaluation.data import resolve_data_dir
    from newsdesk.evaluation.summaries import summaries_report

    folder = resolve_data_dir(data)
    err.print(f"evaluating on {folder} ...")
    report = summaries_report(folder, per_source, per_set)
    if as_json:
        print_json(report)
        return
    validity = Table(title="(a) extractive summaries: structure and citations")
    cols = {
        "documents": "docs",
        "bullets": "bullets",
        "valid_citation_rate": "valid cites",
        "found_in_cited_rate": "in cited para",
        "whole_sentence_rate": "whole sent.",
        "verified_rate": "verified",
        "median_length_ratio": "median len",
        "empty_summaries": "empty",
        "ms_per_document": "ms/doc",
    }
    validity.add_column("source")
    for label in cols.values():
        validity.add_column(label, justify="right")
    for name, row in report["validity"].items():
        validity.add_row(name, *(str(row[c]) for c in cols))
    out.print(validity)
    rouge = Table(title="(b) ROUGE F1 x100 against human references")
    for col in ("set", "system", "pairs", "R1", "R2", "RL", "tokens"):
        rouge.add_column(col, justify="left" if col in ("set", "system") else "right")
    for name, row in report["rouge"].items():
        for system, label in SYSTEM_LABELS.items():
            r = row[system]
            rouge.add_row(
                name,
                label,
                str(row["pairs"]),
                *(f"{r[k]:.2f}" for k in ("rouge1", "rouge2", "rougeL")),
                f"{r['tokens']:.1f}",
            )
    out.print(rouge)
    out.print(_keyfacts_table(report["keyfacts"]))
