"""The CPU-heavy middle of ingest (fingerprint, index terms, summary), on worker
processes if wanted.

Each document is segmented once: the index terms and, when the summary is made at
ingest, the summary's sentence tokens come from one pass of the tokenizer
(:func:`newsdesk.text.segment`). Large runs leave the summary out (``summarize=False``):
it is caught up right after the documents are stored and indexed (see
``Engine.summarize_pending``), off the path that makes documents searchable.

Validation and every write stay in the calling process; only the pure, per-document
work is shipped to workers: the MinHash signature with its band keys, the index
terms and the summary. Workers are forked, and only from a process with a single Python thread:
a fork copies just the calling thread, so a lock another thread held would stay
held forever in the child (a process serving the web UI computes in-process
instead). ``spawn``/``forkserver`` are not used because they re-import the
caller's main module, which breaks scripts without a ``__main__`` guard. Workers
start only once a run is large enough to pay for them, so small ingests never fork.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from multiprocessing.pool import AsyncResult, Pool
from types import TracebackType

import numpy as np

from newsdesk import dedupe
from newsdesk.index.lexical import IndexTerms, index_terms
from newsdesk.models import Document, Summary
from newsdesk.summarize import Summarizer
from newsdesk.summarize.extractive import ExtractiveSummarizer
from newsdesk.text import segment

SummarizerFactory = Callable[[], Summarizer]

# How much lower the workers' scheduling priority is than the writing process's. The
# writer (validation, SQLite, the index) is the bottleneck of a large ingest; with one
# worker per core, three processes share the cores and the writer got ~2/3 of one.
# Niced, the workers take what the writer leaves: 11 % less wall-clock per ingest
# (bench/ingest.md), and other programs on the machine come first too.
WORKER_NICENESS = 10


@dataclass(frozen=True, slots=True)
class Heavy:
    """What the workers compute for one document."""

    sig: np.ndarray
    bands: list[int]
    summary: Summary | None
    terms: IndexTerms


def compute(doc: Document, summarizer: Summarizer, summarize: bool = True) -> Heavy:
    """Fingerprint and index terms of ``doc``, and its summary if ``summarize``."""
    return compute_many([doc], summarizer, summarize)[0]


def compute_many(
    docs: Sequence[Document], summarizer: Summarizer, summarize: bool = True
) -> list[Heavy]:
    """Fingerprints and index terms of ``docs``, and their summaries if ``summarize``.

    The fingerprints are computed together (vectorised across the documents). One
    segmentation serves the index and the extractive summary; the fingerprint works
    on characters, not words (its units are measured in bench/dedupe.md).
    """
    bodies = [[p.text for p in doc.paragraphs] for doc in docs]
    out: list[Heavy] = []
    for doc, texts, (sig, n_shingles) in zip(
        docs, bodies, dedupe.fingerprints(bodies), strict=True
    ):
        bands = dedupe.band_keys(sig) if n_shingles >= dedupe.MIN_SHINGLES else []
        # The body exactly as the store hands it to the index (paragraphs, one per line).
        body = "\n".join(texts)
        if not summarize:
            out.append(Heavy(sig, bands, None, index_terms(doc.title, body)))
        elif isinstance(summarizer, ExtractiveSummarizer):
            seg = segment(doc.title, texts)
            terms = IndexTerms(doc.title, body, seg.index_title(), seg.index_body())
            out.append(Heavy(sig, bands, summarizer.summarize(doc, seg), terms))
        else:
            out.append(Heavy(sig, bands, summarizer.summarize(doc), index_terms(doc.title, body)))
    return out


_worker_summarizer: Summarizer | None = None


def _init_worker(factory: SummarizerFactory) -> None:
    global _worker_summarizer
    with contextlib.suppress(OSError):
        os.nice(WORKER_NICENESS)
    _worker_summarizer = factory()


def _compute_in_worker(job: tuple[list[Document], bool]) -> list[Heavy]:
    assert _worker_summarizer is not None, "worker not initialised"
    # Segmenting for the index here takes it off the writing process, the bottleneck.
    return compute_many(job[0], _worker_summarizer, job[1])


def _summarize_in_worker(doc: Document) -> Summary:
    assert _worker_summarizer is not None, "worker not initialised"
    return _worker_summarizer.summarize(doc)


class Pending:
    """Results of one batch, computed in the background or already at hand."""

    def __init__(
        self, ready: list[Heavy] | None, future: AsyncResult[list[list[Heavy]]] | None
    ) -> None:
        self._ready = ready
        self._future = future

    def get(self) -> list[Heavy]:
        if self._ready is None:
            assert self._future is not None
            self._ready = [heavy for part in self._future.get() for heavy in part]
        return self._ready


def auto_workers(setting: int) -> int:
    """``0`` means one worker per core (at most 4); ``1`` keeps everything in-process."""
    if setting > 0:
        return setting
    return max(1, min(4, os.cpu_count() or 1))


class Preparer:
    """Runs :func:`compute` over batches, in-process or on a lazily started pool."""

    def __init__(self, factory: SummarizerFactory, summarizer: Summarizer, workers: int) -> None:
        self._factory = factory
        self._local = summarizer
        self._workers = workers
        self._pool: Pool | None = None

    def __enter__(self) -> Preparer:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        if self._pool is not None:
            self._pool.terminate()
            self._pool.join()
            self._pool = None

    def _started(self) -> Pool | None:
        """The worker pool, started on first use; None when work stays in-process."""
        if self._workers <= 1:
            return None
        if self._pool is None:
            if threading.active_count() > 1:
                return None
            ctx = multiprocessing.get_context("fork")
            self._pool = ctx.Pool(self._workers, _init_worker, (self._factory,))
        return self._pool

    def submit(self, docs: Sequence[Document], background: bool, summarize: bool = True) -> Pending:
        """Start computing ``docs`` (with summaries if ``summarize``); in the background
        on workers when ``background``."""
        pool = self._started() if docs and background else None
        if pool is None:
            return Pending(compute_many(docs, self._local, summarize), None)
        # Parts of consecutive documents, each fingerprinted together, in order.
        size = max(1, -(-len(docs) // (self._workers * 4)))
        jobs = [(list(docs[i : i + size]), summarize) for i in range(0, len(docs), size)]
        return Pending(None, pool.map_async(_compute_in_worker, jobs, chunksize=1))

    def summarize(self, docs: Sequence[Document]) -> list[Summary]:
        """Summaries of ``docs``, on the workers when there are several."""
        pool = self._started() if len(docs) > 1 else None
        if pool is None:
            return [self._local.summarize(d) for d in docs]
        chunk = max(1, len(docs) // (self._workers * 4))
        return pool.map(_summarize_in_worker, docs, chunksize=chunk)
