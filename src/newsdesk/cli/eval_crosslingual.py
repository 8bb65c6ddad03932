"""``newsdesk eval crosslingual``: precision and recall of pairing a Chinese story
with its English version."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import click
from rich.table import Table
from rich.text import Text

from newsdesk.cli._common import CONTEXT, err, handle_errors, out, print_json
from newsdesk.cli.eval_summaries import DATA_OPTION

LOCAL_EMBEDDERS = ("use-m3", "e5-small", "hashing")


@click.command("crosslingual", context_settings=CONTEXT)
@DATA_OPTION
@click.option(
    "--embedder",
    type=click.Choice(LOCAL_EMBEDDERS),
    default="use-m3",
    show_default=True,
    help="The embedder whose vectors are paired.",
)
@click.option(
    "--since",
    default="2024-01-01",
    show_default=True,
    help="First publish date (ISO) of the feed items used as negatives.",
)
@click.option(
    "--until",
    default="2026-12-31",
    show_default=True,
    help="Last publish date (ISO) of the feed items used as negatives.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the results as JSON.")
@handle_errors
def eval_crosslingual(
    data: Path | None, embedder: str, since: str, until: str, as_json: bool
) -> None:
    """Measure how well a Chinese story and its English version are shown as one.

    Positives are the WMT21 zh-en documents (Chinese article, English reference
    translation; each pair given one day, pairs spread over 10 days); negatives
    are every other zh/en pairing, among them the real Chinese and English feed
    items of fin_rss_multisource published between --since and --until. Prints
    precision and recall of the full rule beside embedding-only pairing.
    """
    from datetime import date

    # Heavy (numpy, the embedders): imported on use, so --help stays quick.
    from newsdesk.config import Settings
    from newsdesk.engine import EMBEDDERS
    from newsdesk.evaluation import crosslingual as evaluation
    from newsdesk.evaluation.data import resolve_data_dir

    for value, name in ((since, "--since"), (until, "--until")):
        try:
            date.fromisoformat(value)
        except ValueError as exc:
            raise click.BadParameter(f"not an ISO date: {value!r}", param_hint=name) from exc
    root = resolve_data_dir(data)
    evalset = evaluation.load_set(root, since, until)
    model = EMBEDDERS[embedder](Settings(home=Path(".")))
    err.print(f"embedding {len(evalset.items)} documents with {embedder} ...")
    started = time.perf_counter()
    result = evaluation.evaluate(evalset, lambda texts: model.embed(texts), embedder)
    result["set"]["rss_since"] = since
    result["set"]["rss_until"] = until
    result["seconds"] = round(time.perf_counter() - started, 1)
    if as_json:
        print_json(result)
        return
    _print(result)


def _line(name: str, s: dict[str, Any]) -> str:
    return (
        f"{name}: precision {s['precision']:.3f}  recall {s['recall']:.3f}  "
        f"({s['correct']} of {s['pairs_predicted']} pairs right)"
    )


def _print(result: dict[str, Any]) -> None:
    c = result["set"]
    out.print(
        Text(
            f"{c['positive_pairs']} WMT21 zh-en pairs; feed items {c.get('rss_zh', 0)} zh + "
            f"{c.get('rss_en', 0)} en ({c['rss_since']} .. {c['rss_until']}); "
            f"embedder {result['embedder']}; {result['seconds']} s",
            style="bold",
        )
    )
    rule = result["rule"]
    out.print(
        f"rule: mutual nearest neighbours within {rule['window'] // 86400} days, cosine >= "
        f"{rule['cosine_floor']}, >= {rule['min_shared']} shared numbers/names of which >= "
        f"{rule['min_numbers']} numbers, number coverage >= {rule['min_coverage']}, "
        f"name coverage >= {rule['min_name_coverage']}"
    )
    out.print(_line("full rule, strict", result["full"]))
    out.print(_line("full rule, judged feed pairs counted", result["full_judged"]))
    out.print(_line("embedding only (mutual NN + floor), strict", result["embedding_only"]))
    out.print(_line("embedding only, judged", result["embedding_only_judged"]))
    for pair in result["full"]["false_pairs"]:
        out.print(
            Text(f"  not a WMT pair: {pair['zh']} + {pair['en']} ({pair['cosine']})", "yellow")
        )
    out.print("judged one story by reading: " + ", ".join(result["judged_same_story"]))
    table = Table(title="threshold sweep (precision with judged feed pairs)")
    for column in ("cosine floor", "numbers", "names", "precision", "recall", "pairs"):
        table.add_column(column, justify="right")
    for row in result["sweep"]:
        table.add_row(
            f"{row['cosine_floor']:.2f}",
            f"{row['min_coverage']:.1f}",
            f"{row['min_name_coverage']:.1f}",
            f"{row['precision']:.3f}",
            f"{row['recall']:.3f}",
            str(row["pairs_predicted"]),
        )
    out.print(table)
