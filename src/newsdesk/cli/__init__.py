"""The ``newsdesk`` command: a thin layer over :class:`newsdesk.engine.Engine`.

Results go to stdout (``--json`` for machines), progress and logs to stderr.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import click
from rich.table import Table
from rich.text import Text
from threadpoolctl import threadpool_limits

from newsdesk import __version__
from newsdesk.cli import embed as embed_cmd
from newsdesk.cli import eval_dedupe, eval_retrieval, eval_summaries, evaluate, feeds
from newsdesk.cli import summarize as summarize_cmd
from newsdesk.cli._common import (
    CONTEXT,
    State,
    err,
    handle_errors,
    out,
    print_json,
    progress_bar,
)
from newsdesk.config import SEARCH_MODES, SORTS, Settings
from newsdesk.engine import Engine, open_engine
from newsdesk.models import Hit, IngestReport, IngestResult, Summary
from newsdesk.search import SearchRequest
from newsdesk.views import document_json, ingest_json, search_json


@click.group(context_settings=CONTEXT)
@click.version_option(__version__, "-V", "--version", prog_name="newsdesk")
@click.option(
    "--home",
    type=click.Path(file_okay=False, path_type=str),
    envvar="NEWSDESK_HOME",
    help="Folder holding the database and indexes [default: a per-user data folder].",
)
@click.option("--debug", is_flag=True, help="Show full tracebacks on errors.")
@click.pass_context
def cli(ctx: click.Context, home: str | None, debug: bool) -> None:
    """Follow a topic across the news: ingest articles, search them in Chinese or
    English, read structured summaries whose every bullet cites its source paragraphs.

    Everything runs offline on this machine; nothing is downloaded.
    """
    ctx.obj = State(home, debug)


# -- ingest ------------------------------------------------------------------------------
def _run_ingest(engine: Engine, paths: list[str] | None, defer: bool = False) -> IngestReport:
    with progress_bar(auto_refresh=False) as progress:
        task = progress.add_task("ingesting", total=None)
        embedding = progress.add_task("embedding", total=None, visible=False)
        last = 0.0

        def tick(result: IngestResult) -> None:
            nonlocal last
            progress.advance(task)
            now = time.monotonic()
            if now - last > 0.2:
                progress.refresh()
                last = now

        def tick_embed(n: int) -> None:
            progress.update(embedding, visible=True, advance=n)

        if paths is None:
            return engine.ingest_sample(tick, defer_embeddings=defer, embed_progress=tick_embed)
        return engine.ingest_inputs(paths, tick, defer_embeddings=defer, embed_progress=tick_embed)


def _report_table(report: IngestReport) -> Table:
    table = Table(title="ingest", show_header=True)
    table.add_column("outcome")
    table.add_column("count", justify="right")
    for outcome, count in report.counts.items():
        table.add_row(outcome, str(count))
    table.add_row("indexed", str(report.indexed))
    table.add_row("embedded", str(report.embedded))
    return table


def _report(report: IngestReport, as_json: bool, failures: Path | None) -> None:
    problems = report.problems
    if failures is not None:
        with failures.open("w", encoding="utf-8") as fh:
            for r in problems:
                fh.write(
                    json.dumps(
                        {"origin": r.origin, "outcome": r.outcome, "reason": r.reason},
                        ensure_ascii=False,
                    )
                    + "\n"
                )
    if report.index_deferred:
        err.print(
            Text(
                "note: the search index was busy (another newsdesk process) or unreachable;"
                " the stored documents become searchable at the next catch-up",
                style="yellow",
            )
        )
    if as_json:
        print_json(ingest_json(report))
        return
    for r in problems[:20]:
        err.print(Text(f"{r.outcome}: {r.origin}: {r.reason}", style="yellow"))
    if len(problems) > 20:
        err.print(f"... and {len(problems) - 20} more (use --failures FILE to keep them all)")
    err.print(_report_table(report))


@cli.command(context_settings=CONTEXT)
@click.argument("paths", nargs=-1, required=True)
@click.option("--json", "as_json", is_flag=True, help="Print the outcome as JSON.")
@click.option(
    "--failures",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write every failed or skipped input (origin, reason) to this JSONL file.",
)
@click.option(
    "--defer-embeddings",
    is_flag=True,
    help="Skip embedding (for bulk loads); run `newsdesk embed` later. Lexical search works.",
)
@click.pass_obj
@handle_errors
def ingest(
    state: State,
    paths: tuple[str, ...],
    as_json: bool,
    failures: Path | None,
    defer_embeddings: bool,
) -> None:
    """Ingest files, folders and URLs: JSONL (one document per line), HTML, text,
    Markdown, PDF; an http(s) URL is fetched, a page read as an article and a feed
    (RSS, Atom, JSON Feed) as its items.

    A JSONL line has "title" and a body ("paragraphs", "text" or "html"), and may
    have "id", "url", "source", "published_at" (ISO 8601), "lang", "category".
    Re-ingesting the same document changes nothing; bad lines are reported with
    their line number and the rest are ingested.
    """
    with open_engine(state.settings()) as engine:
        report = _run_ingest(engine, list(paths), defer_embeddings)
    _report(report, as_json, failures)


# -- search ------------------------------------------------------------------------------
def _fmt_time(hit_time: Any) -> str:
    return hit_time.strftime("%Y-%m-%d %H:%M") if hit_time else "undated"


def _print_summary(summary: Summary | None, indent: str = "  ") -> None:
    if summary is None:
        out.print(Text(f"{indent}(no summary)", style="dim"))
        return
    for section in summary.sections:
        out.print(Text(f"{indent}{section.title}", style="bold"))
        for bullet in section.bullets:
            cites = "".join(f"[{c}]" for c in bullet.citations)
            line = Text(f"{indent}- ")
            line.append(bullet.text)
            line.append(f" {cites}", style="cyan")
            out.print(line)
    dropped = summary.verification.dropped
    if dropped:
        out.print(
            Text(f"{indent}({len(dropped)} bullet(s) dropped by verification)", style="yellow")
        )


def _print_hit(i: int, hit: Hit) -> None:
    doc = hit.document
    out.print(Text(f"{i}. {doc.title}", style="bold"))
    meta = f"   {doc.source or 'unknown source'} · {_fmt_time(doc.published_at)} · id {doc.id}"
    if hit.duplicates:
        meta += f" · {len(hit.duplicates)} other source(s): " + ", ".join(
            d.source or d.id for d in hit.duplicates
        )
    out.print(Text(meta, style="dim"))
    if hit.snippet:
        line = Text("   ")
        line.append(hit.snippet, style="italic")
        for start, end in hit.highlights:
            line.stylize("bold yellow", 3 + start, 3 + end)
        out.print(line)
    _print_summary(hit.summary, indent="   ")
    out.print()


@cli.command(context_settings=CONTEXT)
@click.argument("query")
@click.option(
    "--sort",
    type=click.Choice(SORTS),
    default=None,
    help="newest: the relevant documents, newest first (default); relevance: best first.",
)
@click.option("--limit", type=click.IntRange(1, 100), default=None, help="Results per page [10].")
@click.option("--offset", type=click.IntRange(0), default=0, help="Skip this many results.")
@click.option("--since", help="Only documents published on or after this date (YYYY-MM-DD).")
@click.option("--until", help="Only documents published on or before this date (YYYY-MM-DD).")
@click.option("--lang", "langs", multiple=True, help="Only this language (zh, en); repeatable.")
@click.option("--source", "sources", multiple=True, help="Only this source; repeatable.")
@click.option("--category", "categories", multiple=True, help="Only this category; repeatable.")
@click.option(
    "--mode",
    type=click.Choice(SEARCH_MODES),
    default=None,
    help="hybrid: words and meaning (default); lexical: words only; semantic: meaning only.",
)
@click.option("--json", "as_json", is_flag=True, help="Print results as JSON.")
@click.pass_obj
@handle_errors
def search(
    state: State,
    query: str,
    sort: str | None,
    limit: int | None,
    offset: int,
    since: str | None,
    until: str | None,
    langs: tuple[str, ...],
    sources: tuple[str, ...],
    categories: tuple[str, ...],
    mode: str | None,
    as_json: bool,
) -> None:
    """Search for QUERY (Chinese or English). Supports "exact phrases", -excluded, OR.

    Finds documents by their words (BM25) and by their meaning (embeddings), so an
    English query also finds Chinese articles; only documents about the query are
    listed, newest first unless --sort relevance.
    """
    settings = state.settings()
    request = SearchRequest(
        query=query,
        sort=sort or settings.default_sort,
        limit=limit or settings.default_limit,
        offset=offset,
        since=since,
        until=until,
        langs=langs,
        sources=sources,
        categories=categories,
        mode=mode or "",
    )
    with open_engine(settings) as engine:
        results = engine.search(request)
    if as_json:
        print_json(search_json(results))
        return
    err.print(
        f"{results.total} relevant result(s) for {query!r}, sorted by {results.sort}"
        f" ({results.retrieval} retrieval)"
    )
    for i, hit in enumerate(results.hits, start=1 + offset):
        _print_hit(i, hit)


@cli.command(context_settings=CONTEXT)
@click.argument("doc_id")
@click.option(
    "--summary-lang",
    default=None,
    help="Prefer an LLM summary in this language [setting: summary_language, en].",
)
@click.option("--json", "as_json", is_flag=True, help="Print the document as JSON.")
@click.pass_obj
@handle_errors
def show(state: State, doc_id: str, summary_lang: str | None, as_json: bool) -> None:
    """Show a document with its numbered paragraphs and its summary.

    The summary is the LLM summary in the preferred language when there is one,
    else the extractive summary made at ingest.
    """
    with open_engine(state.settings(summary_language=summary_lang)) as engine:
        doc = engine.document(doc_id)
        summary = engine.summary_for(doc_id)
        others = engine.other_sources(doc)
        errors = [e.to_json() for e in engine.summary_errors(doc_id)]
    if as_json:
        print_json(document_json(doc, summary, others, errors))
        return
    out.print(Text(doc.title, style="bold"))
    out.print(Text(f"{doc.source} · {_fmt_time(doc.published_at)} · {doc.url}", style="dim"))
    if others:
        out.print(
            Text("Also published by: " + ", ".join(o.source or o.id for o in others), style="dim")
        )
    out.print()
    _print_summary(summary)
    for e in errors:
        out.print(Text(f"  ({e['summarizer']} summary failed: {e['error']})", style="yellow"))
    out.print()
    for p in doc.paragraphs:
        out.print(Text(f"[{p.n}] {p.text}"))


@cli.command(context_settings=CONTEXT)
@click.option("--json", "as_json", is_flag=True, help="Print the status as JSON.")
@click.pass_obj
@handle_errors
def status(state: State, as_json: bool) -> None:
    """How many documents are stored, indexed and summarized, and where."""
    with open_engine(state.settings()) as engine:
        info = engine.status()
    if as_json:
        print_json(info)
        return
    for key, value in info.items():
        if isinstance(value, dict):
            value = ", ".join(f"{k}={v}" for k, v in value.items())
        out.print(Text(f"{key:>15}: {value}"))


@cli.command(context_settings=CONTEXT)
@click.option("--json", "as_json", is_flag=True, help="Print the settings as JSON.")
@click.pass_obj
@handle_errors
def config(state: State, as_json: bool) -> None:
    """Print the effective settings (defaults < config.toml < NEWSDESK_* env < flags)."""
    data = state.settings().to_json()
    if as_json:
        print_json(data)
        return
    for key, value in data.items():
        out.print(Text(f"{key} = {value!r}"))


@cli.group(context_settings=CONTEXT)
def index() -> None:
    """Manage the search index (derived from the database, rebuildable at any time)."""


@index.command("rebuild", context_settings=CONTEXT)
@click.pass_obj
@handle_errors
def index_rebuild(state: State) -> None:
    """Build the search index again from the database.

    With index_backend = "opensearch" a new index is filled while the current one
    keeps answering searches, then the alias moves to it and the old one is deleted.
    """
    with open_engine(state.settings()) as engine, progress_bar() as progress:
        task = progress.add_task("indexing", total=engine.store.count_documents())
        n = engine.rebuild_index(lambda k: progress.advance(task, k))
        where = engine.lexical.describe()
    target = f" into {where['index']} (alias {where['alias']})" if "alias" in where else ""
    err.print(f"indexed {n} document(s){target}")


def _serve(settings: Settings) -> None:
    import uvicorn  # local import: only the serving commands need the ASGI server

    from newsdesk.web.app import create_app

    err.print(f"serving on http://{settings.host}:{settings.port}/  (Ctrl-C to stop)")
    # Requests already run in parallel threads; a multi-threaded BLAS inside each
    # query's vector scan oversubscribes the cores (measured: 30 -> 48 API req/s with
    # 8 clients on 2 cores at 30k documents, bench/web.md).
    with threadpool_limits(limits=1):
        uvicorn.run(
            create_app(settings), host=settings.host, port=settings.port, log_level="warning"
        )


@cli.command(context_settings=CONTEXT)
@click.option("--host", default=None, help="Address to listen on [127.0.0.1].")
@click.option("--port", type=click.IntRange(0, 65535), default=None, help="Port [8000].")
@click.pass_obj
@handle_errors
def serve(state: State, host: str | None, port: int | None) -> None:
    """Serve the web UI and the JSON API."""
    _serve(state.settings(host=host, port=port))


@cli.command(context_settings=CONTEXT)
@click.option("--query", default="技术主权", show_default=True, help="The sample search to print.")
@click.option("--serve/--no-serve", "do_serve", default=True, help="Start the web UI afterwards.")
@click.option("--host", default=None, help="Address to listen on [127.0.0.1].")
@click.option("--port", type=click.IntRange(0, 65535), default=None, help="Port [8000].")
@click.pass_obj
@handle_errors
def demo(state: State, query: str, do_serve: bool, host: str | None, port: int | None) -> None:
    """Ingest the bundled sample corpus, print a sample search, then serve the web UI.

    The sample is illustrative text written by the newsdesk project, not real news.
    """
    settings = state.settings(host=host, port=port)
    with open_engine(settings) as engine:
        report = _run_ingest(engine, None)
        err.print(_report_table(report))
        results = engine.search(query)
    err.print(f"{results.total} relevant result(s) for {query!r}, newest first")
    for i, hit in enumerate(results.hits[:5], start=1):
        _print_hit(i, hit)
    if do_serve:
        _serve(settings)


# Command modules register here, each defined in its own file under newsdesk/cli/.
cli.add_command(evaluate.eval_group)
evaluate.eval_group.add_command(eval_summaries.eval_numbers)
evaluate.eval_group.add_command(eval_summaries.eval_summaries)
cli.add_command(summarize_cmd.summarize)
cli.add_command(feeds.feeds_group)
evaluate.eval_group.add_command(eval_dedupe.eval_dedupe)
cli.add_command(embed_cmd.embed)
evaluate.eval_group.add_command(eval_retrieval.retrieval)


def main() -> None:
    cli(prog_name="newsdesk")
