"""``newsdesk embed``: compute the document embeddings that semantic search needs."""

from __future__ import annotations

import click

from newsdesk.cli._common import (
    CONTEXT,
    State,
    err,
    handle_errors,
    open_engine,
    print_json,
    progress_bar,
)


@click.command("embed", context_settings=CONTEXT)
@click.option(
    "--rebuild", is_flag=True, help="Forget every stored vector and embed all documents again."
)
@click.option("--json", "as_json", is_flag=True, help="Print the outcome as JSON.")
@click.pass_obj
@handle_errors
def embed(state: State, rebuild: bool, as_json: bool) -> None:
    """Embed the documents that have no vector yet (after `ingest --defer-embeddings`).

    Resumable: an interrupted run keeps what it finished. Lexical search works
    meanwhile; semantic search covers the documents embedded so far.
    """
    with open_engine(state.settings()) as engine:
        total = engine.store.count_documents() if rebuild else engine.pending_embeddings()
        with progress_bar() as progress:
            task = progress.add_task("embedding", total=total)

            def tick(n: int) -> None:
                progress.advance(task, n)

            done = engine.rebuild_embeddings(tick) if rebuild else engine.embed_pending(tick)
        info = engine.status()
    if as_json:
        print_json(
            {"embedded_now": done, "embedded": info["embedded"], "documents": info["documents"]}
        )
        return
    err.print(
        f"embedded {done} document(s); {info['embedded']} of {info['documents']} have vectors"
    )
