"""``newsdesk eval retrieval``: BM25, embeddings and fusion side by side on labelled sets."""

from __future__ import annotations

import contextlib
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
from rich.progress import Progress
from rich.table import Table

from newsdesk.cli._common import (
    CONTEXT,
    State,
    err,
    handle_errors,
    open_engine,
    out,
    print_json,
    progress_bar,
)
from newsdesk.config import load_settings
from newsdesk.errors import NewsdeskError
from newsdesk.evaluation import datasets
from newsdesk.ranking import FusionParams

if TYPE_CHECKING:
    from newsdesk.engine import Engine

DEFAULT_DATA = Path("..") / "shared" / "data"


def _load(name: str, data: Path, max_docs: int | None, haystack: int) -> datasets.EvalSet:
    if name == "disc":
        return datasets.load_disc(data)
    if name == "finnl":
        return datasets.load_finnl(data, max_docs=max_docs)
    if name == "reuters":
        return datasets.load_reuters(data, max_docs=max_docs)
    return datasets.load_wmt(data, haystack=haystack, sentences_per_doc=2)


def _table(result: dict[str, Any]) -> Table:
    table = Table(
        title=f"{result['set']}: {result['documents']} documents, {result['queries']} queries",
        caption=result["notes"],
    )
    table.add_column("mode")
    keys = ["ndcg@10", "recall@10", "p@10", "cutoff_p", "cutoff_r", "cutoff_f1"]
    for key in keys:
        table.add_column(key, justify="right")
    for mode, values in result["modes"].items():
        table.add_row(mode, *(f"{values[k]:.4f}" for k in keys))
    return table


@click.command("retrieval", context_settings=CONTEXT)
@click.option(
    "--data",
    type=click.Path(file_okay=False, path_type=Path),
    default=DEFAULT_DATA,
    show_default=True,
    help="The shared evaluation data folder.",
)
@click.option(
    "--set",
    "names",
    type=click.Choice(datasets.SETS),
    multiple=True,
    help="Evaluation set to run; repeatable [all].",
)
@click.option("--max-docs", type=click.IntRange(1), default=None, help="Cap finnl/reuters size.")
@click.option(
    "--haystack",
    type=click.IntRange(0),
    default=2000,
    show_default=True,
    help="Chinese distractor stories added to the cross-lingual (wmt) set.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the metrics as JSON.")
@click.pass_obj
@handle_errors
def retrieval(
    state: State,
    data: Path,
    names: tuple[str, ...],
    max_docs: int | None,
    haystack: int,
    as_json: bool,
) -> None:
    """Score BM25 alone, embeddings alone and the fused ranking on labelled data.

    Each set is ingested into a temporary home with the configured embedder, fusion
    and index backend (nothing is written to your home or your store_url; with
    index_backend = "opensearch" each set gets a temporary index on the cluster,
    deleted afterwards).
    Prints nDCG@10, Recall@10, P@10 and how well the relevance cut-off keeps exactly
    the relevant documents.
    """
    from newsdesk.evaluation.retrieval import MODES, collect, ingest_set, report

    base = state.settings()
    results = []
    for name in names or datasets.SETS:
        evalset = _load(name, data, max_docs, haystack)
        with tempfile.TemporaryDirectory(prefix="newsdesk-eval-") as tmp:
            overrides = {k: v for k, v in base.to_json().items() if k != "home"}
            overrides["embed_api_key"] = base.embed_api_key
            # The set goes into the temporary home's SQLite file, never into the
            # configured store (a shared PostgreSQL one would keep it).
            overrides["store_url"] = ""
            overrides["opensearch_url"] = base.opensearch_url
            # A cluster index of its own for the set, dropped afterwards.
            overrides["opensearch_index"] = f"{base.opensearch_index}-eval-{Path(tmp).name}".lower()
            settings = load_settings(home=tmp, overrides=overrides, environ={})
            with (
                open_engine(settings) as engine,
                progress_bar() as progress,
                _dropped_after(engine),
            ):
                t0 = time.perf_counter()
                step = _stepper(progress, f"{name}: ingesting", len(evalset.documents))
                stored = ingest_set(engine, evalset, step)
                step = _stepper(progress, f"{name}: embedding", engine.pending_embeddings())
                engine.embed_pending(step)
                step = _stepper(progress, f"{name}: querying", len(evalset.queries))
                collected = collect(engine, evalset, stored, step)
                params = engine.searcher.policy.fusion
                elapsed = time.perf_counter() - t0
        result = report(collected, params)
        result["seconds"] = round(elapsed, 1)
        result["fusion"] = _params_json(params)
        results.append(result)
        if not as_json:
            out.print(_table(result))
    if as_json:
        print_json({"modes": list(MODES), "sets": results})
    else:
        err.print("ranking metrics are before the cut-off; cutoff_* judge the kept set")


@contextlib.contextmanager
def _dropped_after(engine: Engine) -> Iterator[None]:
    try:
        yield
    finally:
        if engine.settings.index_backend != "local":
            with contextlib.suppress(NewsdeskError):
                engine.lexical.drop()


def _stepper(progress: Progress, label: str, total: int) -> Callable[[int], None]:
    task = progress.add_task(label, total=total)
    return lambda n: progress.advance(task, n)


def _params_json(params: FusionParams) -> dict[str, Any]:
    return {
        "method": params.method,
        "rrf_k": params.rrf_k,
        "semantic_weight": params.semantic_weight,
        "lexical_floor": params.lexical_floor,
        "semantic_floor": params.semantic_floor,
        "semantic_ratio": params.semantic_ratio,
        "feedback_weight": params.feedback_weight,
        "feedback_floor": params.feedback_floor,
        "feedback_ratio": params.feedback_ratio,
    }
