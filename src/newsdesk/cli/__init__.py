"""The ``newsdesk`` command: a thin layer over :class:`newsdesk.engine.Engine`.

Results go to stdout (``--json`` for machines), progress and logs to stderr.
"""

from __future__ import annotations

import json
import shlex
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
from rich.table import Table
from rich.text import Text

from newsdesk import __version__
from newsdesk.cli import embed as embed_cmd
from newsdesk.cli import (
    eval_crosslingual,
    eval_dedupe,
    eval_retrieval,
    eval_summaries,
    evaluate,
    feeds,
)
from newsdesk.cli import summarize as summarize_cmd
from newsdesk.cli import translate as translate_cmd
from newsdesk.cli import worker as worker_cmd
from newsdesk.cli._common import (
    CONTEXT,
    LANG_OPTION,
    TRANSLATOR_OPTION,
    State,
    err,
    handle_errors,
    open_engine,
    out,
    print_json,
    progress_bar,
)
from newsdesk.config import SEARCH_MODES, SORTS, Settings

if TYPE_CHECKING:
    from newsdesk.engine import Engine
    from newsdesk.models import Hit, IngestReport, IngestResult, ReaderSummary

# Only modules that import nothing heavy are imported above: `newsdesk --help` and
# usage errors must not load the engine (tests/test_startup.py checks it). The
# commands import the rest (engine, search, views) in their bodies.


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
        # A large ingest makes documents searchable first and summarizes them after.
        summarizing = progress.add_task("summarizing", total=None, visible=False)
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
            progress.refresh()

        def tick_summary(n: int) -> None:
            progress.update(summarizing, visible=True, advance=n)
            progress.refresh()

        if paths is None:
            return engine.ingest_sample(
                tick,
                defer_embeddings=defer,
                embed_progress=tick_embed,
                summary_progress=tick_summary,
            )
        return engine.ingest_inputs(
            paths,
            tick,
            defer_embeddings=defer,
            embed_progress=tick_embed,
            summary_progress=tick_summary,
        )


def _report_table(report: IngestReport) -> Table:
    table = Table(title="ingest", show_header=True)
    table.add_column("outcome")
    table.add_column("count", justify="right")
    for outcome, count in report.counts.items():
        table.add_row(outcome, str(count))
    table.add_row("indexed", str(report.indexed))
    table.add_row("embedded", str(report.embedded))
    return table


def _summary_line(report: IngestReport) -> str:
    counts = report.counts
    parts = ", ".join(f"{n} {k}" for k, n in counts.items() if n)
    return f"{len(report.results)} input(s): {parts or 'nothing to ingest'}"


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
        from newsdesk.views import ingest_json

        print_json(ingest_json(report))
    else:
        for r in problems[:20]:
            err.print(Text(f"{r.outcome}: {r.origin}: {r.reason}", style="yellow"))
        if len(problems) > 20:
            err.print(f"... and {len(problems) - 20} more (use --failures FILE to keep them all)")
        for r in report.notes[:20]:
            err.print(Text(f"note: {r.origin}: {r.note}", style="yellow"))
        err.print(_report_table(report))
    failed = report.counts["failed"]
    err.print(
        Text(
            ("failed: " if failed else "done: ") + _summary_line(report),
            style="bold red" if failed else "bold",
        )
    )


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
@click.option(
    "--queue",
    is_flag=True,
    help="Queue one job per URL or file (folders expanded) for `newsdesk worker` instead.",
)
@click.pass_obj
@handle_errors
def ingest(
    state: State,
    paths: tuple[str, ...],
    as_json: bool,
    failures: Path | None,
    defer_embeddings: bool,
    queue: bool,
) -> None:
    """Ingest files, folders and URLs: JSONL (one document per line), HTML, text,
    Markdown, PDF; an http(s) URL is fetched, a page read as an article and a feed
    (RSS, Atom, JSON Feed) as its items.

    A JSONL line has "title" and a body ("paragraphs", "text" or "html"), and may
    have "id", "url", "source", "published_at" (ISO 8601), "lang", "category".
    Re-ingesting the same document changes nothing; bad lines are reported with
    their line number and the rest are ingested; of lines naming the same document,
    the last one is stored.

    Exit status: 0 when every input was ingested (or skipped, e.g. unchanged), 1
    when any input failed; the last line on stderr sums the outcomes up.

    With --queue nothing is ingested here: each input becomes a job that workers
    (`newsdesk worker`, on any machine sharing the store) claim and ingest.
    """
    if queue:
        _queue(state, list(paths), as_json)
        return
    with open_engine(state.settings()) as engine:
        report = _run_ingest(engine, list(paths), defer_embeddings)
    _report(report, as_json, failures)
    if report.counts["failed"]:
        sys.exit(1)


def _queue(state: State, inputs: list[str], as_json: bool) -> None:
    from newsdesk.worker import enqueue

    with open_engine(state.settings()) as engine:
        queued = enqueue(engine, inputs)
    if as_json:
        print_json({"jobs": [{**job.to_json(), "new": new} for job, new in queued]})
        return
    new = sum(1 for _, is_new in queued if is_new)
    err.print(
        f"queued {new} job(s)"
        + (f"; {len(queued) - new} already queued" if new < len(queued) else "")
        + " (run `newsdesk worker` to ingest them)"
    )


# -- search ------------------------------------------------------------------------------
def _fmt_time(hit_time: Any) -> str:
    return hit_time.strftime("%Y-%m-%d %H:%M") if hit_time else "undated"


def _print_summary(reader: ReaderSummary | None, indent: str = "  ") -> None:
    from newsdesk.reading import provenance

    if reader is None:
        out.print(Text(f"{indent}(no summary)", style="dim"))
        return
    for section in reader.sections:
        out.print(Text(f"{indent}{section.title}", style="bold"))
        for bullet in section.bullets:
            cites = "".join(f"[{c}]" for c in bullet.citations)
            line = Text(f"{indent}- ")
            if bullet.problem:
                line.append("⚠ ", style="yellow")
            line.append(bullet.text)
            line.append(f" {cites}", style="cyan")
            out.print(line)
            if bullet.translated and bullet.original:
                out.print(Text(f"{indent}  original: {bullet.original}", style="dim"))
            elif bullet.problem:
                out.print(Text(f"{indent}  ({bullet.problem})", style="yellow"))
    out.print(Text(f"{indent}{provenance(reader)}", style="dim"))
    dropped = reader.summary.verification.dropped
    if dropped:
        out.print(
            Text(f"{indent}({len(dropped)} bullet(s) dropped by verification)", style="yellow")
        )


def _print_hit(i: int, hit: Hit, reader: ReaderSummary | None) -> None:
    from newsdesk.reading import snippet_repeats
    from newsdesk.views import also_in, split_by_language, why

    doc = hit.document
    title = reader.title if reader is not None else doc.title
    out.print(Text(f"{i}. {title}", style="bold"))
    if reader is not None and reader.title_translated:
        out.print(Text(f"   ({doc.title})", style="dim"))
    meta = f"   {doc.source or 'unknown source'} · {_fmt_time(doc.published_at)} · id {doc.id}"
    copies, versions = split_by_language(doc.lang, hit.duplicates)
    if copies:
        meta += f" · {len(copies)} other source(s): " + ", ".join(d.source or d.id for d in copies)
    if reason := why(hit):
        meta += f" · {reason}"
    out.print(Text(meta, style="dim"))
    for v in versions:
        out.print(Text(f"   {also_in(v.lang)}: {v.title}, {v.source or v.id} (id {v.id})"))
    if hit.snippet and not (reader is not None and snippet_repeats(hit.snippet, reader.bullets)):
        line = Text("   ")
        line.append(hit.snippet, style="italic")
        for start, end in hit.highlights:
            line.stylize("bold yellow", 3 + start, 3 + end)
        out.print(line)
    _print_summary(reader, indent="   ")
    out.print()


@cli.command(context_settings=CONTEXT)
@click.argument("query", required=False, default="")
@click.option(
    "--browse",
    is_flag=True,
    help="No query: list the newest documents (the filters still apply).",
)
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
@click.option(
    "--doc-lang",
    "langs",
    multiple=True,
    help="Only documents in this language (zh, en); repeatable.",
)
@LANG_OPTION
@TRANSLATOR_OPTION
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
    browse: bool,
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
    language: str | None,
    translator: str | None,
) -> None:
    """Search for QUERY (Chinese or English). Supports "exact phrases", -excluded, OR.

    Finds documents by their words (BM25) and by their meaning (embeddings), so an
    English query also finds Chinese articles; only documents about the query are
    listed, newest first unless --sort relevance. Summaries and titles are shown in
    --lang (machine-translated and checked when a translator is configured). Without
    a query, --browse lists the newest documents.
    """
    if browse and query.strip():
        raise click.UsageError("give a QUERY or --browse, not both")
    if not browse and not query.strip():
        raise click.UsageError(
            "no query: give words to search for, or --browse to list the newest documents"
        )
    from newsdesk.search import SearchRequest, query_notes
    from newsdesk.views import search_json

    settings = state.settings(translator=translator)
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
    lang = language or settings.summary_language
    with open_engine(settings) as engine:
        results = engine.search(request)
        without_vectors = engine.pending_embeddings()
        readers = engine.reader_summaries([h.document for h in results.hits], lang)
    notes = query_notes(query)
    if without_vectors and results.retrieval != "browse":
        notes.append(
            f"{without_vectors} document(s) have no vectors yet and are found by their words"
            " only; run `newsdesk embed` (a running `newsdesk serve` does it by itself)"
        )
    if as_json:
        print_json({**search_json(results, readers, lang), "notes": notes})
        return
    for note in notes:
        err.print(Text(f"note: {note}", style="yellow"))
    if browse:
        err.print(f"{results.total} document(s), newest first (no query)")
    else:
        err.print(
            f"{results.total} relevant result(s) for {query!r}, sorted by {results.sort}"
            f" ({results.retrieval} retrieval)"
            + (
                f", then {results.pages_of - results.total} less certain"
                if results.pages_of > results.total
                else ""
            )
        )
    for i, hit in enumerate(results.hits, start=1 + offset):
        _print_hit(i, hit, readers.get(hit.document.id))


@cli.command(context_settings=CONTEXT)
@click.argument("doc_id")
@LANG_OPTION
@click.option("--summary-lang", "summary_lang", hidden=True, help="Old name of --lang.")
@TRANSLATOR_OPTION
@click.option("--json", "as_json", is_flag=True, help="Print the document as JSON.")
@click.pass_obj
@handle_errors
def show(
    state: State,
    doc_id: str,
    language: str | None,
    summary_lang: str | None,
    translator: str | None,
    as_json: bool,
) -> None:
    """Show a document with its numbered paragraphs and its summary.

    The summary is shown in --lang: the LLM summary in that language when there is
    one, else the extractive summary, machine-translated sentence by sentence when the
    document is in another language and a translator is configured (each bullet keeps
    its citations and its original; one whose numbers do not survive is shown in the
    original, marked).
    """
    from newsdesk.views import also_in, document_json, split_by_language

    settings = state.settings(translator=translator)
    lang = language or summary_lang or settings.summary_language
    with open_engine(settings) as engine:
        doc = engine.document(doc_id)
        summary = engine.summary_for(doc_id, lang)
        reader = engine.reader_summaries([doc], lang).get(doc_id)
        others = engine.other_sources(doc)
        errors = [e.to_json() for e in engine.summary_errors(doc_id)]
    if as_json:
        print_json(document_json(doc, summary, others, errors, reader))
        return
    title = reader.title if reader is not None else doc.title
    out.print(Text(title, style="bold"))
    if reader is not None and reader.title_translated:
        out.print(Text(f"({doc.title})", style="dim"))
    out.print(Text(f"{doc.source} · {_fmt_time(doc.published_at)} · {doc.url}", style="dim"))
    copies, versions = split_by_language(doc.lang, others)
    if copies:
        out.print(
            Text("Also published by: " + ", ".join(o.source or o.id for o in copies), style="dim")
        )
    for v in versions:
        out.print(Text(f"{also_in(v.lang)}: {v.title}, {v.source or v.id} (id {v.id})"))
    out.print()
    _print_summary(reader)
    for e in errors:
        out.print(Text(f"  ({e['summarizer']} summary failed: {e['error']})", style="yellow"))
    out.print()
    for p in doc.paragraphs:
        out.print(Text(f"[{p.n}] {p.text}"))


@cli.command(context_settings=CONTEXT)
@click.argument("doc_ids", metavar="ID...", nargs=-1, required=True)
@click.option("--json", "as_json", is_flag=True, help="Print the deletions as JSON.")
@click.pass_obj
@handle_errors
def delete(state: State, doc_ids: tuple[str, ...], as_json: bool) -> None:
    """Delete documents by id: from the database, the search index, the vectors, their
    story groups and summaries. Each deletion is recorded (`newsdesk deletions`); the
    same item may be ingested again later.

    Exit status 1 when any ID was not found (the others are deleted).
    """
    with open_engine(state.settings()) as engine:
        deleted, missing = engine.delete_documents(list(doc_ids))
    if as_json:
        print_json({"deleted": [d.to_json() for d in deleted], "not_found": missing})
    else:
        for d in deleted:
            out.print(Text(f"deleted {d.doc_id}: {d.title}"))
        for doc_id in missing:
            err.print(Text(f"not found: {doc_id}", style="yellow"))
        err.print(f"{len(deleted)} deleted, {len(missing)} not found")
    if missing:
        sys.exit(1)


@cli.command(context_settings=CONTEXT)
@click.option("--limit", type=click.IntRange(1), default=100, help="At most this many [100].")
@click.option("--json", "as_json", is_flag=True, help="Print the deletions as JSON.")
@click.pass_obj
@handle_errors
def deletions(state: State, limit: int, as_json: bool) -> None:
    """List the documents deleted with `newsdesk delete`, newest first."""
    with open_engine(state.settings()) as engine:
        found = engine.deletions(limit)
    if as_json:
        print_json({"deletions": [d.to_json() for d in found]})
        return
    for d in found:
        out.print(Text(f"{d.deleted_at}  {d.doc_id}  {d.title}"))
    err.print(f"{len(found)} deletion(s)")


@cli.command(context_settings=CONTEXT)
@click.option("--json", "as_json", is_flag=True, help="Print the status as JSON.")
@click.pass_obj
@handle_errors
def status(state: State, as_json: bool) -> None:
    """How many documents are stored, indexed, embedded and summarized, and where; the
    work queue (queued jobs, due feeds), the workers with their heartbeats, the leases
    they hold, and the lag of the inputs and of this machine's index copy.

    not_indexed and without_vectors count the documents that search cannot find yet
    by their words or by their meaning (`newsdesk embed` catches the vectors up).
    """
    with open_engine(state.settings()) as engine:
        info = engine.status()
    if as_json:
        print_json(info)
        return
    for key, value in info.items():
        if isinstance(value, list):
            out.print(Text(f"{key:>15}: {len(value)}"))
            for row in value:
                out.print(Text(" " * 17 + ", ".join(f"{k}={v}" for k, v in row.items())))
            continue
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


def _serve(settings: Settings, workers: int = 1, threads: int | None = None) -> None:
    import uvicorn  # local imports: only the serving commands need the ASGI server
    from threadpoolctl import threadpool_limits

    from newsdesk.web.app import create_app, print_ready
    from newsdesk.web.workers import BackgroundRole, serve_workers

    if workers > 1:
        err.print(
            f"serving on http://{settings.host}:{settings.port}/ with {workers} worker"
            " processes (Ctrl-C to stop); each accepts requests once warm"
        )
        serve_workers(settings, workers, threads)
        return
    role = BackgroundRole(settings.home)
    role.try_take()

    # Requests already run in parallel threads; a multi-threaded BLAS inside each
    # query's vector scan oversubscribes the cores (measured: 30 -> 48 API req/s with
    # 8 clients on 2 cores at 30k documents, bench/web.md).
    with threadpool_limits(limits=1):
        app = create_app(settings, on_ready=print_ready, role=role, threads=threads)
        engine: Engine = app.state.engine
        if engine.catching_up:
            # No count here: counting the vectors reads them all (seconds on a large,
            # cold home) and would hold the server's start.
            err.print(
                "catching up in the background: summarizing and embedding what was stored"
                " since the last run (see /api/v1/health)"
            )
        err.print(
            f"serving on http://{settings.host}:{settings.port}/  (Ctrl-C to stop); warming up"
            " (/api/v1/health answers 503 until ready)"
        )
        uvicorn.run(
            app, host=settings.host, port=settings.port, log_level="warning", access_log=False
        )


@cli.command(context_settings=CONTEXT)
@click.option("--host", default=None, help="Address to listen on [127.0.0.1].")
@click.option("--port", type=click.IntRange(0, 65535), default=None, help="Port [8000].")
@click.option(
    "--workers",
    default="1",
    show_default=True,
    metavar="N|auto",
    help="Server processes sharing the port (auto: one per core). Each holds its own"
    " models and caches; the vectors are shared.",
)
@click.option(
    "--threads",
    type=click.IntRange(1, 1000),
    default=None,
    help="Requests each process works on at once [40]. Fewer waste less CPU under load"
    " (Python runs one thread at a time); a slow request (ingest by URL) holds one.",
)
@click.pass_obj
@handle_errors
def serve(
    state: State, host: str | None, port: int | None, workers: str, threads: int | None
) -> None:
    """Serve the web UI and the JSON API.

    One process answers one search at a time per core it can use (Python's global
    lock); --workers N starts N processes on the same port, of which exactly one
    keeps the home's indexes up.
    """
    from newsdesk.web.workers import worker_count

    _serve(state.settings(host=host, port=port), worker_count(workers), threads)


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
        readers = engine.reader_summaries([h.document for h in results.hits[:5]])
    err.print(f"{results.total} relevant result(s) for {query!r}, newest first")
    for i, hit in enumerate(results.hits[:5], start=1):
        _print_hit(i, hit, readers.get(hit.document.id))
    # The next commands name this home, so they find what the demo ingested.
    home = shlex.quote(str(state.home)) if state.home else ""
    prefix = f"newsdesk --home {home}" if home else "newsdesk"
    first = results.hits[0].document.id if results.hits else "ID"
    err.print(
        "try next (on the demo's home):"
        + f"\n  {prefix} search 'rare earth export controls'"
        + f"\n  {prefix} show {first}"
        + f"\n  {prefix} serve"
    )
    if do_serve:
        _serve(settings)


# Command modules register here, each defined in its own file under newsdesk/cli/.
cli.add_command(evaluate.eval_group)
evaluate.eval_group.add_command(eval_summaries.eval_numbers)
evaluate.eval_group.add_command(eval_summaries.eval_summaries)
evaluate.eval_group.add_command(eval_summaries.eval_keyfacts)
cli.add_command(summarize_cmd.summarize)
cli.add_command(translate_cmd.translate)
cli.add_command(feeds.feeds_group)
evaluate.eval_group.add_command(eval_dedupe.eval_dedupe)
evaluate.eval_group.add_command(eval_crosslingual.eval_crosslingual)
cli.add_command(embed_cmd.embed)
cli.add_command(worker_cmd.worker)
cli.add_command(worker_cmd.jobs_group)
evaluate.eval_group.add_command(eval_retrieval.retrieval)


def main() -> None:
    cli(prog_name="newsdesk")
