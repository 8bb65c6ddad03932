"""``newsdesk translate``: machine-translate summaries and titles in bulk, ahead of reading."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click
from rich.table import Table
from rich.text import Text

from newsdesk.cli._common import (
    CONTEXT,
    TRANSLATOR_OPTION,
    State,
    err,
    handle_errors,
    open_engine,
    print_json,
    progress_bar,
)
from newsdesk.errors import ConfigError, InputError

if TYPE_CHECKING:
    from newsdesk.engine import Engine
    from newsdesk.models import TranslateReport, TranslateResult

NO_TRANSLATOR = (
    "no translator configured: set libretranslate_url (NEWSDESK_LIBRETRANSLATE_URL) or an"
    " LLM endpoint (NEWSDESK_LLM_BASE_URL and NEWSDESK_LLM_MODEL), or pass --translator"
)


def targets(engine: Engine, ids: tuple[str, ...], all_docs: bool, query: str | None) -> list[str]:
    if sum(bool(x) for x in (ids, all_docs, query)) != 1:
        raise InputError("give document IDS, --all or --query (exactly one of them)")
    if all_docs:
        return engine.store.all_ids()
    if query:
        return engine.ids_for_query(query)
    return list(dict.fromkeys(ids))


def run_translation(
    engine: Engine, ids: list[str], language: str, translator: str | None, force: bool
) -> TranslateReport:
    """Translate with retries and back-off, a progress bar on stderr."""
    service = engine.make_translation_service(translator)
    if service is None:
        raise ConfigError(NO_TRANSLATOR)
    with progress_bar() as progress:
        task = progress.add_task(f"translating into {language}", total=len(ids))

        def tick(result: TranslateResult) -> None:
            progress.advance(task)

        return engine.reader.translate_documents(ids, language, service, force=force, progress=tick)


def print_report(report: TranslateReport) -> None:
    data = report.to_json()
    for failure in data["failures"][:20]:
        err.print(
            Text(f"{failure['outcome']}: {failure['id']}: {failure['reason']}", style="yellow")
        )
    table = Table(title=f"translate ({report.translator}, into {report.language})")
    table.add_column("outcome")
    table.add_column("count", justify="right")
    for outcome, count in data["counts"].items():
        table.add_row(outcome, str(count))
    table.add_row("bullets shown in the original", str(data["bullets_in_original"]))
    err.print(table)


@click.command("translate", context_settings=CONTEXT)
@click.argument("ids", nargs=-1)
@click.option("--all", "all_docs", is_flag=True, help="Translate every stored document.")
@click.option("--query", help="Translate the documents relevant to this search.")
@click.option(
    "--lang",
    "language",
    type=click.Choice(["en", "zh"]),
    default=None,
    help="Translate into this language [setting: summary_language, en].",
)
@TRANSLATOR_OPTION
@click.option(
    "--concurrency", type=click.IntRange(1, 64), default=None, help="Requests in flight [4]."
)
@click.option(
    "--timeout", type=click.FloatRange(min=0.1), default=None, help="Seconds per request [30]."
)
@click.option("--force", is_flag=True, help="Translate again even what is cached.")
@click.option("--json", "as_json", is_flag=True, help="Print the outcome as JSON.")
@click.pass_obj
@handle_errors
def translate(
    state: State,
    ids: tuple[str, ...],
    all_docs: bool,
    query: str | None,
    language: str | None,
    translator: str | None,
    concurrency: int | None,
    timeout: float | None,
    force: bool,
    as_json: bool,
) -> None:
    """Machine-translate the summaries and titles of documents given by IDS, --all or
    --query, so pages and `show --lang` find them ready.

    Each summary sentence is translated on its own, in batches with bounded
    concurrency and retries with back-off, and cached per (text, translator, model,
    language): a re-run only does what is missing. A translation is shown only if its
    numbers are in the cited paragraphs and every figure of the original survives;
    otherwise that bullet stays in the original, marked. Documents already in the
    language are skipped.
    """
    settings = state.settings(translate_concurrency=concurrency, translate_timeout=timeout)
    lang = language or settings.summary_language
    if lang not in ("en", "zh"):
        raise InputError(f"--lang must be en or zh (summary_language is {lang!r})")
    with open_engine(settings) as engine:
        report = run_translation(
            engine, targets(engine, ids, all_docs, query), lang, translator, force
        )
    if as_json:
        print_json(report.to_json())
        return
    print_report(report)
