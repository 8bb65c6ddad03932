"""``newsdesk eval``: measure quality on labelled data (retrieval, summaries, duplicates)."""

from __future__ import annotations

import click

from newsdesk.cli._common import CONTEXT


@click.group("eval", context_settings=CONTEXT)
def eval_group() -> None:
    """Measure newsdesk on labelled evaluation data and print standard metrics."""
