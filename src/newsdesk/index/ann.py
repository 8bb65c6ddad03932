"""An approximate nearest-neighbour graph (HNSW) over the vector index's rows.

The library is `usearch <https://github.com/unum-cloud/usearch>`_, chosen by
measurement against hnswlib and faiss (``bench/million_choose.py``,
``bench/million.md``): it stores the vectors as float16 inside the graph, opens a
saved graph memory-mapped (``view``: start-up reads nothing, the pages come in as
searches touch them) and answers a single query fastest at the recall we need.

Keys are the vector index's row numbers (*slots*). The graph never decides what
may be shown: the caller drops dead slots and slots outside the filter, and scans
the rows the graph does not hold yet exactly. A graph file is written to a
temporary name and renamed, so a crash leaves the old graph or the new one.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from newsdesk.errors import BackendUnavailable

# HNSW parameters: M (connectivity) and efConstruction; efSearch is per search.
CONNECTIVITY = 16
EXPANSION_ADD = 128


def _library() -> Any:
    try:
        from usearch.index import Index  # optional compiled dependency, loaded on first use
    except ImportError as exc:
        raise BackendUnavailable(
            "the approximate vector index needs the package usearch (pip install usearch)",
            backend="usearch",
        ) from exc
    return Index


class Graph:
    """An HNSW graph of unit vectors keyed by slot, searched by inner product."""

    def __init__(self, index: Any, rows: int, *, mapped: bool) -> None:
        self._index = index
        # Slots [0, rows) are in the graph (dead ones too, until a rebuild).
        self.rows = rows
        self.mapped = mapped

    @classmethod
    def build(cls, dim: int, vectors: NDArray[np.floating], *, threads: int = 0) -> Graph:
        graph = cls(
            _library()(
                ndim=dim,
                metric="ip",
                dtype="f16",
                connectivity=CONNECTIVITY,
                expansion_add=EXPANSION_ADD,
            ),
            0,
            mapped=False,
        )
        graph.add(vectors, threads=threads)
        return graph

    @classmethod
    def open(cls, path: Path, rows: int, *, mapped: bool = True) -> Graph:
        """The graph saved at ``path`` (holding slots [0, rows)), memory-mapped or loaded."""
        index = _library().restore(str(path), view=mapped)
        if index is None or len(index) > rows or index.ndim <= 0:
            raise ValueError(f"{path} is not a vector graph of {rows} rows")
        return cls(index, rows, mapped=mapped)

    def loaded(self, path: Path) -> Graph:
        """A writable copy of this graph (a mapped graph cannot grow)."""
        if not self.mapped:
            return self
        return Graph.open(path, self.rows, mapped=False)

    def add(self, vectors: NDArray[np.floating], *, threads: int = 0) -> None:
        """Add the next ``len(vectors)`` slots."""
        if self.mapped:
            raise ValueError("a memory-mapped graph is read-only")
        n = int(vectors.shape[0])
        if n:
            keys = np.arange(self.rows, self.rows + n, dtype=np.uint64)
            for at in range(0, n, 65536):
                block = np.asarray(vectors[at : at + 65536], dtype=np.float32)
                self._index.add(keys[at : at + 65536], block, threads=threads)
        self.rows += n

    def save(self, path: Path) -> None:
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        try:
            self._index.save(str(tmp))
            os.replace(tmp, path)
        finally:
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()

    def search(
        self, query: NDArray[np.float32], count: int, ef: int
    ) -> tuple[NDArray[np.int64], NDArray[np.float32]]:
        """The ``count`` slots nearest ``query`` (approximately), with their similarity."""
        count = min(count, len(self._index))
        if count <= 0:
            return np.zeros(0, np.int64), np.zeros(0, np.float32)
        # usearch reads its search breadth from the index; never narrower than count.
        self._index.expansion_search = max(ef, count)
        found = self._index.search(query.astype(np.float32, copy=False), count, threads=1)
        keys = np.asarray(found.keys, dtype=np.int64)
        sims = (1.0 - np.asarray(found.distances, dtype=np.float32)).astype(np.float32)
        return keys, sims

    def __len__(self) -> int:
        return len(self._index)
