"""``newsdesk summarize``: (re)summarize documents with the extractive or an LLM summarizer."""

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
from newsdesk.cli.translate import NO_TRANSLATOR, print_report, run_translation
from newsdesk.config import LANGUAGE_CODE, SUMMARIZER_NAMES
from newsdesk.errors import ConfigError, InputError

if TYPE_CHECKING:
    from newsdesk.models import SummarizeResult, TranslateReport


@click.command("summarize", context_settings=CONTEXT)
@click.argument("ids", nargs=-1)
@click.option("--all", "all_docs", is_flag=True, help="Summarize every stored document.")
@click.option("--query", help="Summarize the documents relevant to this search.")
@click.option(
    "--summarizer",
    type=click.Choice(sorted(SUMMARIZER_NAMES)),
    default=None,
    help="extractive (offline) or llm (an OpenAI-compatible endpoint) [setting: summarizer].",
)
@click.option(
    "--lang",
    "language",
    default=None,
    help="Language of LLM summaries (en, zh, ...); with the extractive summarizer, also"
    " machine-translate them into en or zh [setting: summary_language, en].",
)
@TRANSLATOR_OPTION
@click.option("--base-url", help="LLM endpoint, e.g. http://127.0.0.1:11434/v1.")
@click.option("--model", help="LLM model name, e.g. qwen2.5:7b-instruct.")
@click.option("--api-key", help="LLM API key (prefer NEWSDESK_LLM_API_KEY).")
@click.option(
    "--concurrency", type=click.IntRange(1, 64), default=None, help="Requests in flight [4]."
)
@click.option(
    "--timeout", type=click.FloatRange(min=0.1), default=None, help="Seconds per request [120]."
)
@click.option("--force", is_flag=True, help="Summarize again even when a cached summary matches.")
@click.option("--json", "as_json", is_flag=True, help="Print the outcome as JSON.")
@click.pass_obj
@handle_errors
def summarize(
    state: State,
    ids: tuple[str, ...],
    all_docs: bool,
    query: str | None,
    summarizer: str | None,
    language: str | None,
    translator: str | None,
    base_url: str | None,
    model: str | None,
    api_key: str | None,
    concurrency: int | None,
    timeout: float | None,
    force: bool,
    as_json: bool,
) -> None:
    """Summarize documents given by IDS, --all or --query, and store the summaries.

    Summaries are cached by (content, summarizer, model, prompt version, language): a
    re-run only does what is missing, so an interrupted run resumes where it stopped.
    Every bullet is verified against the paragraphs it cites; an LLM gets one repair
    request for failing bullets, which are then dropped and recorded. A document whose
    LLM summary fails keeps its extractive summary, and the error is recorded and shown.
    With the extractive summarizer and --lang, the summaries of documents in another
    language are then machine-translated (as `newsdesk translate` does).
    """
    if sum(bool(x) for x in (ids, all_docs, query)) != 1:
        raise InputError("give document IDS, --all or --query (exactly one of them)")
    if language is not None and not LANGUAGE_CODE.match(language):
        raise InputError(f"--lang must be a language code like en or zh, got {language!r}")
    settings = state.settings(
        llm_base_url=base_url,
        llm_model=model,
        llm_api_key=api_key,
        llm_timeout=timeout,
        llm_concurrency=concurrency,
    )
    from newsdesk.engine import EXTRACTIVE_SUMMARIZER, translator_name

    name = summarizer or settings.summarizer
    if name == EXTRACTIVE_SUMMARIZER and language not in (None, "en", "zh"):
        raise InputError("extractive summaries are translated into en or zh only; --lang en|zh")
    if name == EXTRACTIVE_SUMMARIZER and language and not translator_name(settings, translator):
        raise ConfigError(NO_TRANSLATOR)
    translated: TranslateReport | None = None
    with open_engine(settings) as engine:
        if all_docs:
            targets = engine.store.all_ids()
        elif query:
            targets = engine.ids_for_query(query)
        else:
            targets = list(dict.fromkeys(ids))
        worker = engine.make_summarizer(name, language)
        with progress_bar() as progress:
            task = progress.add_task(f"summarizing ({name})", total=len(targets))

            def tick(result: SummarizeResult) -> None:
                progress.advance(task)

            report = engine.summarize_documents(
                targets,
                worker,
                concurrency=settings.llm_concurrency if name != EXTRACTIVE_SUMMARIZER else 1,
                force=force,
                progress=tick,
            )
        if name == EXTRACTIVE_SUMMARIZER and language is not None:
            translated = run_translation(engine, targets, language, translator, force)
    if as_json:
        data = report.to_json()
        if translated is not None:
            data["translation"] = translated.to_json()
        print_json(data)
        return
    if translated is not None:
        print_report(translated)
    data = report.to_json()
    for failure in data["failures"][:20]:
        err.print(
            Text(f"{failure['outcome']}: {failure['id']}: {failure['reason']}", style="yellow")
        )
    table = Table(title=f"summarize ({name}{', ' + report.language if report.language else ''})")
    table.add_column("outcome")
    table.add_column("count", justify="right")
    for outcome, count in data["counts"].items():
        table.add_row(outcome, str(count))
    table.add_row("bullets repaired", str(data["repaired_bullets"]))
    table.add_row("bullets dropped", str(data["dropped_bullets"]))
    err.print(table)
