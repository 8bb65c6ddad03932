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
SETS = (*datasets.SETS, "topics")
# The topic set's halves (newsdesk.evaluation.topics.SPLITS; spelled out so that
# --help imports no search code).
TOPIC_SPLITS = ("all", "dev", "test")


def _load(
    name: str, data: Path, max_docs: int | None, haystack: int, split: str
) -> datasets.EvalSet:
    if name == "topics":
        from newsdesk.evaluation import topics

        return topics.load_topic_set(data, split, max_docs=max_docs)
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


def _topic_table(result: dict[str, Any]) -> Table:
    from newsdesk.evaluation import topics

    table = Table(
        title=(
            f"topics ({result['split']}): {result['documents']} documents, "
            f"{result['topics']} topics, embedder {result['embedder']}"
        ),
        caption="nDCG@10 graded, --sort relevance; page = default newest-first first page",
    )
    columns = ["topics", "bm25", *(f"{m} (xbm25)" for m in topics.RELEVANCE_MODES)]
    columns += ["page precision", "page coverage", "total within 2x", "total/relevant"]
    for col in columns:
        table.add_column(col, justify="right")
    table.add_column("lang")
    rows = [("all", result), *result["by_lang"].items()]
    for lang, r in rows:
        page = r["newest_page"]
        table.add_row(
            str(r["topics"]),
            f"{r['bm25_ndcg@10']:.3f}",
            *(f"{r['ndcg@10'][m]:.3f} ({r['vs_bm25'][m]:.2f})" for m in topics.RELEVANCE_MODES),
            f"{page['precision']:.3f}",
            f"{page['coverage']:.3f}",
            f"{page['total_within_2x']:.2f}",
            f"{page['median_total_over_relevant']:.1f}",
            lang,
        )
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
    type=click.Choice(SETS),
    multiple=True,
    help="Evaluation set to run; repeatable [all].",
)
@click.option(
    "--max-docs",
    type=click.IntRange(1),
    default=None,
    help="Cap finnl/reuters/topics size (topics: the newest N documents).",
)
@click.option(
    "--topics-split",
    type=click.Choice(TOPIC_SPLITS),
    default="all",
    show_default=True,
    help="Which half of the topics to score: dev (for tuning), test (for reporting) or all.",
)
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
    topics_split: str,
    as_json: bool,
) -> None:
    """Score BM25 alone, embeddings alone and the fused ranking on labelled data.

    Each set is ingested into a temporary home with the configured embedder, fusion
    and index backend (nothing is written to your home or your store_url; with
    index_backend = "opensearch" each set gets a temporary index on the cluster,
    deleted afterwards).
    Prints nDCG@10, Recall@10, P@10 and how well the relevance cut-off keeps exactly
    the relevant documents.

    The "topics" set (analyst topic queries over all of fin_rss_multisource, graded
    judgments made by reading; bench/topics.md) is scored through the real searches:
    graded nDCG@10 of `search --sort relevance` per mode beside plain BM25, per topic
    language too, and for the default newest-first first page its precision
    (relevant shown / shown), coverage (relevant shown / min(relevant, 10)) and how
    often the reported total is within 2x of the number of relevant documents.
    """
    from newsdesk.evaluation import topics
    from newsdesk.evaluation.retrieval import MODES, collect, ingest_set, report

    base = state.settings()
    results = []
    for name in names or SETS:
        evalset = _load(name, data, max_docs, haystack, topics_split)
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
                params = engine.searcher.policy.fusion
                if name == "topics":
                    runs = topics.collect_topics(engine, evalset, stored, step)
                    result = {
                        "set": name,
                        "split": topics_split,
                        "notes": evalset.notes,
                        "documents": engine.store.count_documents(),
                        "stories": engine.store.count_stories(),
                        "embedder": engine.settings.embedder,
                        **topics.topic_report(runs),
                    }
                else:
                    collected = collect(engine, evalset, stored, step)
                elapsed = time.perf_counter() - t0
        if name == "topics":
            result["seconds"] = round(elapsed, 1)
            result["fusion"] = _params_json(params)
            results.append(result)
            if not as_json:
                out.print(_topic_table(result))
            continue
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
