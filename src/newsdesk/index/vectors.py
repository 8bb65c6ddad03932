"""Brute-force vector index: document embeddings in memory, kept in step with the store.

Vectors are computed by an :class:`~newsdesk.embed.Embedder` from each document's
title and lead, stored as float16 in the SQLite store together with the index
watermark (one transaction, so a crash never loses the position), and held here as
a float32 matrix with the filterable fields beside it. At 100k documents x 512
dimensions a full scan is one matrix-vector product (~200 MB, a few milliseconds),
so no approximate structure is needed; ``bench/search_latency.py`` measures it.

The embedder's id and width are saved with the watermark. An index built by another
embedder is *stale*: it is never queried (its vectors live in another space) and the
next :meth:`VectorIndex.catch_up` rebuilds it.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from newsdesk.embed import Embedder
from newsdesk.errors import SearchIndexError
from newsdesk.store import IndexRow, Store, VectorRow

NAME = "vectors"
# The part of a document that is embedded; part of the saved parameters, since
# changing it changes every vector.
LEAD_CHARS = 512
TEXT_RECIPE = f"title+lead{LEAD_CHARS}"
_BATCH = 256
_NO_TIME = np.iinfo(np.int64).min


def document_text(title: str, body: str) -> str:
    """What is embedded for a document: its title and the start of its body."""
    return f"{title}\n{body}"[:LEAD_CHARS]


@dataclass(frozen=True, slots=True)
class VectorFilter:
    """Restrictions a vector search shares with the lexical one."""

    since_ts: int | None = None
    until_ts: int | None = None
    langs: tuple[str, ...] = ()
    sources: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class VectorHit:
    id: str
    score: float


class _Codes:
    """Small integer codes for a string column, so filters are numpy comparisons."""

    def __init__(self) -> None:
        self.codes: dict[str, int] = {}

    def code(self, value: str) -> int:
        return self.codes.setdefault(value, len(self.codes))

    def lookup(self, values: Sequence[str]) -> list[int]:
        return [self.codes[v] for v in values if v in self.codes]


class VectorIndex:
    """Document vectors of one store, searched by cosine similarity."""

    def __init__(self, store: Store, embedder: Embedder, *, in_memory: bool = True) -> None:
        """Vectors of ``store`` made by ``embedder``.

        With ``in_memory=False`` the index only embeds into the store and never loads
        the matrix: another backend (OpenSearch) searches the vectors.
        """
        self.store = store
        self.embedder = embedder
        self.in_memory = in_memory
        # Loading and removing rows run in more than one thread in a server (request
        # refreshes, a background catch-up); one at a time.
        self._lock = threading.RLock()
        self._reset_memory()

    def _reset_memory(self) -> None:
        self._ids: list[str] = []
        self._pos: dict[str, int] = {}
        self._matrix: NDArray[np.float32] = np.zeros((0, 0), dtype=np.float32)
        self._ts: NDArray[np.int64] = np.zeros(0, dtype=np.int64)
        self._cols = {k: np.zeros(0, dtype=np.int32) for k in ("lang", "source", "category")}
        self._codes = {k: _Codes() for k in ("lang", "source", "category")}
        self._loaded_rev = 0
        self._dim = 0

    # -- parameters ----------------------------------------------------------------------
    def params(self, dim: int | None = None) -> dict[str, Any]:
        return {
            "embedder": self.embedder.id,
            "dim": dim if dim is not None else self.embedder.dim,
            "text": TEXT_RECIPE,
            "v": 1,
        }

    def _state(self) -> tuple[int, dict[str, Any]] | None:
        return self.store.index_state(NAME)

    @property
    def stale_reason(self) -> str:
        """Why the stored vectors cannot be queried with this embedder ('' when they can)."""
        state = self._state()
        if state is None or state[0] == 0:
            return ""
        saved = state[1]
        if saved.get("embedder") != self.embedder.id or saved.get("text") != TEXT_RECIPE:
            return (
                f"the vector index was built with {saved.get('embedder')!r}, the configured "
                f"embedder is {self.embedder.id!r}; run `newsdesk embed --rebuild`"
            )
        if self.embedder.dim and saved.get("dim") not in (None, 0, self.embedder.dim):
            return (
                f"the vector index holds {saved.get('dim')}-dimensional vectors, the "
                f"embedder makes {self.embedder.dim}; run `newsdesk embed --rebuild`"
            )
        return ""

    @property
    def watermark(self) -> int:
        state = self._state()
        return state[0] if state and not self.stale_reason else 0

    def pending(self) -> int:
        return self.store.count_documents() - self.store.count_embedded()

    # -- writing -------------------------------------------------------------------------
    def catch_up(self, progress: Callable[[int], None] | None = None) -> int:
        """Embed every document changed since the watermark; returns how many.

        A stale index (another embedder's vectors) is cleared first and rebuilt.

        Raises:
            BackendUnavailable: the embedder cannot run (missing package, server down).
        """
        if self.stale_reason:
            self._clear()
        done = 0
        rows = self.store.rows_since(self.watermark, _BATCH)
        while rows:
            self._embed_rows(rows)
            done += len(rows)
            if progress is not None:
                progress(len(rows))
            rows = self.store.rows_since(rows[-1].rev, _BATCH)
        if done:
            self.refresh()
        return done

    def _embed_rows(self, rows: list[IndexRow]) -> None:
        vectors = self.embedder.embed([document_text(r.title, r.body) for r in rows])
        if vectors.shape[0] != len(rows):
            raise SearchIndexError(
                f"embedder {self.embedder.id} returned {vectors.shape[0]} vectors "
                f"for {len(rows)} documents"
            )
        half = vectors.astype(np.float16)
        self.store.put_embeddings(
            NAME,
            [(r.id, r.rev, half[i].tobytes()) for i, r in enumerate(rows)],
            rows[-1].rev,
            self.params(int(vectors.shape[1])),
        )

    def rebuild(self, progress: Callable[[int], None] | None = None) -> int:
        """Forget every stored vector and embed the whole store again."""
        self._clear()
        return self.catch_up(progress)

    def _clear(self) -> None:
        self.store.clear_embeddings(NAME, self.params())
        self._reset_memory()

    # -- reading -------------------------------------------------------------------------
    def refresh(self) -> None:
        """Load vectors stored since the last load (by this or another process)."""
        if not self.in_memory or self.stale_reason:
            return
        with self._lock:
            while True:
                rows = self.store.embedding_rows(self._loaded_rev)
                if not rows:
                    return
                self._add(rows)
                self._loaded_rev = rows[-1].rev

    def remove(self, ids: Sequence[str]) -> None:
        """Forget the vectors of deleted documents (the store's rows are gone already).

        A removed row is set to NaN in place rather than cut out, so a search running
        meanwhile sees arrays of one shape; its NaN score is never a hit.
        """
        with self._lock:
            for doc_id in ids:
                at = self._pos.pop(doc_id, None)
                if at is not None:
                    self._matrix[at] = np.nan

    def _grow(self, n_new: int, dim: int) -> None:
        size = len(self._ids) + n_new
        if self._matrix.shape[0] >= size and self._dim == dim:
            return
        capacity = max(size, int(self._matrix.shape[0] * 1.5), 1024)
        matrix = np.zeros((capacity, dim), dtype=np.float32)
        if self._ids:
            matrix[: len(self._ids)] = self._matrix[: len(self._ids)]
        self._matrix = matrix
        self._ts = np.resize(self._ts, capacity)
        self._cols = {k: np.resize(v, capacity) for k, v in self._cols.items()}
        self._dim = dim

    def _add(self, rows: list[VectorRow]) -> None:
        block = np.frombuffer(b"".join(r.vector for r in rows), dtype=np.float16)
        dim = block.size // len(rows)
        block = block.reshape(len(rows), dim)
        self._grow(len(rows), dim)
        for i, row in enumerate(rows):
            at = self._pos.get(row.id)
            if at is None:
                at = len(self._ids)
                self._ids.append(row.id)
                self._pos[row.id] = at
            self._matrix[at] = block[i]
            self._ts[at] = _NO_TIME if row.published_ts is None else row.published_ts
            for col, value in (
                ("lang", row.lang),
                ("source", row.source),
                ("category", row.category),
            ):
                self._cols[col][at] = self._codes[col].code(value)

    def __len__(self) -> int:
        return len(self._ids)

    @property
    def usable(self) -> bool:
        return bool(self._ids) and not self.stale_reason

    def _mask(self, flt: VectorFilter, n: int) -> NDArray[np.bool_] | None:
        mask: NDArray[np.bool_] | None = None

        def both(m: NDArray[np.bool_]) -> NDArray[np.bool_]:
            return m if mask is None else mask & m

        if flt.since_ts is not None:
            mask = both(self._ts[:n] >= flt.since_ts)
        if flt.until_ts is not None:
            mask = both((self._ts[:n] <= flt.until_ts) & (self._ts[:n] != _NO_TIME))
        for col, values in (
            ("lang", flt.langs),
            ("source", flt.sources),
            ("category", flt.categories),
        ):
            if values:
                mask = both(np.isin(self._cols[col][:n], self._codes[col].lookup(values)))
        return mask

    def vectors_of(self, ids: Sequence[str], lang: str = "") -> NDArray[np.float32]:
        """Stored vectors of ``ids`` (those indexed, and of language ``lang`` if given)."""
        if not self.in_memory:
            found = self.store.current_embeddings(ids)
            blobs = [r.vector for d in ids if (r := found.get(d)) and (not lang or r.lang == lang)]
            if not blobs:
                return np.zeros((0, self.embedder.dim), np.float32)
            half = np.frombuffer(b"".join(blobs), dtype=np.float16)
            return half.reshape(len(blobs), -1).astype(np.float32)
        code = self._codes["lang"].codes.get(lang, -1) if lang else None
        rows = [
            at
            for d in ids
            if (at := self._pos.get(d)) is not None
            and (code is None or self._cols["lang"][at] == code)
        ]
        return self._matrix[rows].copy() if rows else np.zeros((0, self._dim), np.float32)

    def embed_query(self, text: str) -> NDArray[np.float32]:
        row: NDArray[np.float32] = self.embedder.embed([text], query=True)[0]
        return row

    def search(
        self, query: NDArray[np.float32], limit: int, flt: VectorFilter | None = None
    ) -> list[VectorHit]:
        """The ``limit`` documents nearest to ``query`` (a unit vector), best first.

        Raises:
            SearchIndexError: the index is stale (built by another embedder).
        """
        return self.search_batch(query[None, :], limit, flt)[0]

    def search_batch(
        self, queries: NDArray[np.float32], limit: int, flt: VectorFilter | None = None
    ) -> list[list[VectorHit]]:
        """:meth:`search` for each row of ``queries``, in one pass over the matrix.

        The scan is bound by memory bandwidth, so a second query vector costs
        almost nothing when it rides along in the same product.
        """
        reason = self.stale_reason
        if reason:
            raise SearchIndexError(reason)
        n = len(self._ids)
        if n == 0 or limit <= 0:
            return [[] for _ in range(queries.shape[0])]
        if queries.shape[1] != self._dim:
            raise SearchIndexError(
                f"query vector has {queries.shape[1]} dimensions, the index {self._dim}"
            )
        scores = self._matrix[:n] @ queries.astype(np.float32, copy=False).T
        mask = self._mask(flt or VectorFilter(), n)
        if mask is not None:
            scores[~mask] = -np.inf
        k = min(limit, n)
        out = []
        for col in range(scores.shape[1]):
            column = scores[:, col]
            top = np.argpartition(-column, k - 1)[:k] if k < n else np.arange(n)
            top = top[np.argsort(-column[top], kind="stable")]
            out.append(
                [VectorHit(self._ids[i], float(column[i])) for i in top if np.isfinite(column[i])]
            )
        return out
