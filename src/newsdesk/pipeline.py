"""The CPU-heavy middle of ingest (fingerprint, summary), on worker processes if wanted.

Validation and every write stay in the calling process; only the pure, per-document
work is shipped to workers: the MinHash signature with its band keys, and the
summary. Workers are forked, and only from a process with a single Python thread:
a fork copies just the calling thread, so a lock another thread held would stay
held forever in the child (a process serving the web UI computes in-process
instead). ``spawn``/``forkserver`` are not used because they re-import the
caller's main module, which breaks scripts without a ``__main__`` guard. Workers
start only once a run is large enough to pay for them, so small ingests never fork.
"""

from __future__ import annotations

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

SummarizerFactory = Callable[[], Summarizer]


@dataclass(frozen=True, slots=True)
class Heavy:
    """What the workers compute for one document."""

    sig: np.ndarray
    bands: list[int]
    summary: Summary
    terms: IndexTerms | None = None


def compute(doc: Document, summarizer: Summarizer, with_terms: bool = False) -> Heavy:
    """Fingerprint and summary of ``doc``; with ``with_terms`` also its index terms."""
    sig, n_shingles = dedupe.fingerprint(p.text for p in doc.paragraphs)
    bands = dedupe.band_keys(sig) if n_shingles >= dedupe.MIN_SHINGLES else []
    # The body exactly as the store hands it to the index (paragraphs, one per line).
    body = "\n".join(p.text for p in doc.paragraphs)
    terms = index_terms(doc.title, body) if with_terms else None
    return Heavy(sig, bands, summarizer.summarize(doc), terms)


_worker_summarizer: Summarizer | None = None


def _init_worker(factory: SummarizerFactory) -> None:
    global _worker_summarizer
    _worker_summarizer = factory()


def _compute_in_worker(doc: Document) -> Heavy:
    assert _worker_summarizer is not None, "worker not initialised"
    # Segmenting for the index here takes it off the writing process, the bottleneck.
    return compute(doc, _worker_summarizer, with_terms=True)


class Pending:
    """Results of one batch, computed in the background or already at hand."""

    def __init__(self, ready: list[Heavy] | None, future: AsyncResult[list[Heavy]] | None) -> None:
        self._ready = ready
        self._future = future

    def get(self) -> list[Heavy]:
        if self._ready is None:
            assert self._future is not None
            self._ready = self._future.get()
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

    def submit(self, docs: Sequence[Document], background: bool) -> Pending:
        """Start computing ``docs``; in the background on workers when ``background``."""
        if not docs or self._workers <= 1 or not background:
            return Pending([compute(d, self._local) for d in docs], None)
        if self._pool is None:
            if threading.active_count() > 1:
                return Pending([compute(d, self._local) for d in docs], None)
            ctx = multiprocessing.get_context("fork")
            self._pool = ctx.Pool(self._workers, _init_worker, (self._factory,))
        chunk = max(1, len(docs) // (self._workers * 4))
        return Pending(None, self._pool.map_async(_compute_in_worker, docs, chunksize=chunk))
