"""Vector index: document embeddings kept in step with the store, searched by cosine.

Vectors are computed by an :class:`~newsdesk.embed.Embedder` from each document's
title and lead and stored as float16 in the store together with the index watermark
(one transaction, so a crash never loses the position). The store is the truth; this
module keeps a searchable copy:

- Below ``ann_threshold`` live documents every search is an exact scan (one
  matrix-vector product; ``bench/search_latency.py``).
- Above it an HNSW graph (:mod:`newsdesk.index.ann`) answers, and the rows the graph
  does not hold yet (added since it was last grown) are scanned exactly beside it.
  Filters are applied to the graph's answers (asked for more when a filter keeps few
  documents); when a filter is so selective that the graph cannot be trusted to find
  enough, the documents it keeps are scanned exactly instead.

With a ``directory`` (``<home>/index/vectors``) the copy lives in files: the rows as a
float16 matrix that is memory-mapped (never read whole into memory), the filterable
fields, the ids, and the graph (memory-mapped too), with ``state.json`` saying how
many rows are valid, up to which store revision and deletion they go, and which
embedder made them. Files only grow by appending, and ``state.json`` is replaced
atomically after the rows are written, so a crash leaves the previous state; anything
unreadable or inconsistent is deleted and rebuilt from the store. A process opens the
files (start-up reads ids and small columns only), catches up from the saved
revision, and writes what it gained back when it holds the directory's lock (other
processes keep those rows in memory until they see the new state).

The embedder's id and width are saved with the watermark. An index built by another
embedder is *stale*: it is never queried (its vectors live in another space) and the
next :meth:`VectorIndex.catch_up` rebuilds it.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import shutil
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from newsdesk.embed import Embedder
from newsdesk.errors import BackendUnavailable, SearchIndexError
from newsdesk.index.ann import Graph
from newsdesk.store import IndexRow, Store, VectorRow

NAME = "vectors"
# The part of a document that is embedded; part of the saved parameters, since
# changing it changes every vector.
LEAD_CHARS = 512
TEXT_RECIPE = f"title+lead{LEAD_CHARS}"
_BATCH = 256
_NO_TIME = np.iinfo(np.int64).min
_COLS = ("lang", "source", "category")
# Rows scanned per step of an exact scan over the float16 matrix (converted to float32).
_CHUNK = 32768
# Rows a process keeps in memory before appending them to the files.
_FLUSH_ROWS = 20_000
# Defaults of the settings ann_threshold and ann_ef (bench/million.md).
DEFAULT_ANN_THRESHOLD = 50_000
DEFAULT_ANN_EF = 96
# Query vectors kept by :meth:`VectorIndex.embed_query` (2 KB each at 512 dims).
QUERY_CACHE_SIZE = 256
_FORMAT = 2
# Below the threshold the saved rows are also held as float32 when they fit in this
# many bytes: the exact scan is then one product, without converting float16 rows.
_DENSE_BYTES = 256 * 2**20

log = logging.getLogger(__name__)


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

    def __init__(
        self,
        store: Store,
        embedder: Embedder,
        *,
        in_memory: bool = True,
        directory: Path | None = None,
        ann_threshold: int = DEFAULT_ANN_THRESHOLD,
        ann_ef: int = DEFAULT_ANN_EF,
        grow_in_background: bool = False,
        read_only: bool = False,
    ) -> None:
        """Vectors of ``store`` made by ``embedder``.

        With ``in_memory=False`` the index only embeds into the store and never loads
        the vectors: another backend (OpenSearch) searches them. With a ``directory``
        the searchable copy is kept in files there (see the module docstring); without
        one it is built in memory from the store. ``ann_threshold``: live documents
        from which the HNSW graph answers (0 = never); ``ann_ef``: its search breadth.
        ``grow_in_background``: build or grow the graph on a daemon thread (a server,
        whose refreshes run in requests) rather than within :meth:`refresh`; searches
        scan the rows it lacks exactly meanwhile.
        ``read_only``: never write the files (one of several server processes on a
        home: another one saves the rows and grows the graph, and :meth:`refresh`
        maps what it wrote); it can be turned off later (:attr:`read_only`).
        """
        self.store = store
        self.embedder = embedder
        self.in_memory = in_memory
        self.directory = directory if in_memory else None
        self.ann_threshold = ann_threshold
        self.ann_ef = ann_ef
        self.grow_in_background = grow_in_background
        self.read_only = read_only
        self._growing: threading.Thread | None = None
        # Recent query vectors by (embedder id, exact text), least recent first.
        self._queries: OrderedDict[tuple[str, str], NDArray[np.float32]] = OrderedDict()
        self._queries_lock = threading.Lock()
        # Mutations and the swap of arrays, briefly; searches take references under it.
        self._lock = threading.RLock()
        # One refresh (store reads, file writes, graph growth) at a time.
        self._refresh_lock = threading.RLock()
        self._reset_memory()
        if self.directory is not None and in_memory:
            self._open_files()

    def _reset_memory(self) -> None:
        with self._lock:
            self._ids: list[str] = []
            self._pos: dict[str, int] = {}
            # Rows [0, _saved) are in the files (memory-mapped), the rest in _tail.
            self._mapped: NDArray[np.float16] = np.zeros((0, 0), dtype=np.float16)
            self._saved = 0
            self._dense: NDArray[np.float32] | None = None
            self._tail: NDArray[np.float32] = np.zeros((0, 0), dtype=np.float32)
            self._ts: NDArray[np.int64] = np.zeros(0, dtype=np.int64)
            self._cols = {k: np.zeros(0, dtype=np.int32) for k in _COLS}
            self._dead: NDArray[np.bool_] = np.zeros(0, dtype=np.bool_)
            self._n_dead = 0
            self._codes = {k: _Codes() for k in _COLS}
            self._graph: Graph | None = None
            self._loaded_rev = 0
            self._deletion_seq = self.store.deletion_seq() if self.in_memory else 0
            self._dim = 0
            self._disk: dict[str, Any] = {}

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

    def embedded(self) -> int:
        """Documents whose stored vector was made from their present revision.

        Every document up to the watermark has one (:meth:`catch_up` embeds all that
        changed after it, and moves it in the same transaction as their vectors), so
        only those changed since are looked at: an index range count, where a join of
        every vector took 0.9 s at a million documents, and 8 s out of the page cache
        (this is what ``/api/v1/health`` and a server's start ask).
        """
        upto = self.watermark
        return self.store.count_documents(upto) + self.store.count_embedded(upto)

    def pending(self) -> int:
        return self.store.count_documents() - self.embedded()

    def behind(self) -> bool:
        """Whether documents were stored since the vectors were last caught up: what
        :meth:`catch_up` would embed. Two indexed lookups, where :meth:`pending`
        counts every vector (seconds at a million documents out of the page cache)."""
        return self.store.max_rev() > self.watermark

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
        with self._refresh_lock:
            self._wipe_files()
            self._reset_memory()

    # -- files ---------------------------------------------------------------------------
    def _path(self, name: str) -> Path:
        assert self.directory is not None
        return self.directory / name

    @contextlib.contextmanager
    def _file_lock(self) -> Iterator[bool]:
        """Hold the directory's writer lock if it is free (yields False if not)."""
        assert self.directory is not None
        self.directory.mkdir(parents=True, exist_ok=True)
        with open(self._path("lock"), "a+b") as fh:
            try:
                fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                yield False
                return
            try:
                yield True
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)

    def _read_disk_state(self) -> dict[str, Any]:
        try:
            data = json.loads(self._path("state.json").read_text(encoding="utf-8"))
            return data if isinstance(data, dict) else {}
        except (OSError, ValueError):
            return {}

    def _wipe_files(self) -> None:
        if self.directory is None:
            return
        with self._file_lock() as mine:
            if not mine:
                return
            for path in self.directory.iterdir():
                if path.name != "lock":
                    if path.is_dir():
                        shutil.rmtree(path, ignore_errors=True)
                    else:
                        path.unlink(missing_ok=True)

    def _open_files(self) -> None:
        """Map the saved copy, or delete it when it cannot be used (rebuilt from the store)."""
        state = self._read_disk_state()
        if not state:
            return
        reason = self._unusable(state)
        if not reason:
            try:
                self._map(state)
                return
            except (OSError, ValueError, KeyError, TypeError, BackendUnavailable) as exc:
                reason = f"unreadable ({exc})"
        log.warning("vector files in %s rebuilt from the store: %s", self.directory, reason)
        self._reset_memory()
        if not self.read_only:
            self._wipe_files()

    def _unusable(self, state: dict[str, Any]) -> str:
        if state.get("format") != _FORMAT:
            return "another file format"
        if state.get("params") != self.params(int(state.get("dim", 0))):
            return "made by another embedder"
        stored = self._state()
        if self.stale_reason or stored is None or stored[0] < int(state.get("rev", 0)):
            return "the store's vectors were cleared since"
        return ""

    def _map(self, state: dict[str, Any]) -> None:
        n, dim = int(state["rows"]), int(state["dim"])
        raw = self._path("ids.txt").read_bytes()[: int(state["ids_bytes"])]
        ids = raw.decode("utf-8").split("\n")[:-1] if raw else []
        if len(ids) != n:
            raise ValueError(f"ids.txt holds {len(ids)} ids, state.json says {n}")
        ts = np.fromfile(self._path("ts.i64"), dtype=np.int64, count=n)
        cols = {k: np.fromfile(self._path(f"{k}.i32"), dtype=np.int32, count=n) for k in _COLS}
        dead = np.fromfile(self._path("dead.u8"), dtype=np.uint8, count=n).astype(np.bool_)
        if any(len(a) != n for a in (ts, dead, *cols.values())):
            raise ValueError("a column file is shorter than state.json says")
        codes = json.loads(self._path("codes.json").read_text(encoding="utf-8"))
        mapped = (
            np.memmap(self._path("matrix.f16"), dtype=np.float16, mode="r", shape=(n, dim))
            if n
            else np.zeros((0, dim), dtype=np.float16)
        )
        graph_rows = int(state.get("graph_rows", 0))
        graph = Graph.open(self._path("graph.usearch"), graph_rows) if graph_rows else None
        with self._lock:
            self._ids = ids
            self._pos = {d: i for i, d in enumerate(ids) if not dead[i]}
            self._mapped = mapped
            self._saved = n
            self._tail = np.zeros((0, dim), dtype=np.float32)
            self._ts, self._cols, self._dead = ts, cols, dead
            self._n_dead = int(dead.sum())
            for k in _COLS:
                self._codes[k].codes = {str(v): int(c) for v, c in codes[k].items()}
            self._graph = graph
            self._loaded_rev = int(state["rev"])
            self._deletion_seq = int(state["deletion_seq"])
            self._dim = dim
            self._disk = state

    def _write(self, name: str, data: bytes, at: int) -> None:
        """Write ``data`` at byte ``at`` of file ``name``, cutting what follows (a crash's)."""
        path = self._path(name)
        with open(path, "r+b" if path.exists() else "w+b") as fh:
            fh.truncate(at)
            fh.seek(at)
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())

    def _replace(self, name: str, data: bytes) -> None:
        path = self._path(name)
        tmp = path.with_name(f".{name}.{os.getpid()}.tmp")
        with open(tmp, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)

    def _flush(self) -> bool:
        """Append the rows held in memory to the files; False if another process writes."""
        if self.directory is None or self._dim == 0:
            return False
        with self._file_lock() as mine:
            if not mine:
                return False
            if self._read_disk_state().get("rows", 0) != self._disk.get("rows", 0):
                return False  # another process wrote meanwhile: reopened at the next refresh
            with self._lock:
                n, saved, dim = len(self._ids), self._saved, self._dim
                tail = self._tail[: n - saved].astype(np.float16)
                ids = self._ids[saved:n]
                ts = self._ts[saved:n].copy()
                cols = {k: v[saved:n].copy() for k, v in self._cols.items()}
                dead = self._dead[:n].astype(np.uint8)
                codes = {k: dict(c.codes) for k, c in self._codes.items()}
                rev, seq = self._loaded_rev, self._deletion_seq
            ids_at = int(self._disk.get("ids_bytes", 0))
            ids_raw = "".join(f"{d}\n" for d in ids).encode("utf-8")
            self._write("matrix.f16", tail.tobytes(), saved * dim * 2)
            self._write("ts.i64", ts.tobytes(), saved * 8)
            for k in _COLS:
                self._write(f"{k}.i32", cols[k].tobytes(), saved * 4)
            self._write("ids.txt", ids_raw, ids_at)
            self._replace("dead.u8", dead.tobytes())
            self._replace("codes.json", json.dumps(codes).encode("utf-8"))
            state = {
                "format": _FORMAT,
                "rows": n,
                "dim": dim,
                "ids_bytes": ids_at + len(ids_raw),
                "rev": rev,
                "deletion_seq": seq,
                "graph_rows": int(self._disk.get("graph_rows", 0)),
                "params": self.params(dim),
            }
            self._replace("state.json", json.dumps(state, sort_keys=True).encode("utf-8"))
            mapped = np.memmap(self._path("matrix.f16"), dtype=np.float16, mode="r", shape=(n, dim))
            with self._lock:
                # Rows added meanwhile (none: one refresh at a time) stay in the tail.
                self._tail = self._tail[n - saved : len(self._ids) - saved].copy()
                self._mapped = mapped
                self._saved = n
                self._disk = state
            return True

    # -- reading -------------------------------------------------------------------------
    def refresh(self) -> None:
        """Load vectors stored since the last load (by this or another process)."""
        if not self.in_memory or self.stale_reason:
            return
        with self._refresh_lock:
            if self.directory is not None:
                disk = self._read_disk_state()
                if disk.get("rows", 0) > self._disk.get("rows", 0) or (self._disk and not disk):
                    # Another process saved more (or rebuilt): start from its files.
                    self._reset_memory()
                    self._open_files()
                else:
                    self._adopt_graph(disk)
            self._apply_deletions()
            while True:
                rows = self.store.embedding_rows(self._loaded_rev)
                if not rows:
                    break
                with self._lock:
                    self._add(rows)
                    self._loaded_rev = rows[-1].rev
                if len(self._ids) - self._saved >= _FLUSH_ROWS and not self.read_only:
                    self._flush()
            if self.read_only:
                return  # the writing process saves these rows and grows the graph
            if self.directory is not None and (
                len(self._ids) > self._saved or self._deletion_seq != self._disk.get("deletion_seq")
            ):
                self._flush()
            if not self._graph_lags():
                return
            if not self.grow_in_background:
                self._grow_graph()
            elif self._growing is None or not self._growing.is_alive():
                self._growing = threading.Thread(
                    target=self._grow_graph_logged, name="vector-graph", daemon=True
                )
                self._growing.start()

    def wait_for_graph(self) -> None:
        """Wait until a graph being built in the background is ready (tests, benches)."""
        growing = self._growing
        if growing is not None:
            growing.join()

    def _grow_graph_logged(self) -> None:
        try:
            self._grow_graph()
        except Exception:  # a daemon thread: say why, searches go on exactly
            log.exception("growing the vector graph failed; searches scan exactly")

    def _graph_lags(self) -> bool:
        if not self._graph_wanted():
            return False
        have = self._graph.rows if self._graph is not None else 0
        lag = len(self._ids) - have
        return self._graph is None or lag >= max(5000, min(self.ann_threshold, have // 20))

    def _apply_deletions(self) -> None:
        seq = self.store.deletion_seq()
        if seq != self._deletion_seq:
            self.remove(self.store.deleted_since(self._deletion_seq))
            self._deletion_seq = seq

    def _graph_wanted(self) -> bool:
        live = len(self._ids) - self._n_dead
        return 0 < self.ann_threshold <= live

    def _grow_graph(self) -> None:
        """Add the rows the graph lacks once they are many (or build it the first time)."""
        if not self._graph_lags():
            return
        graph = self._graph
        have = graph.rows if graph is not None else 0
        if self.directory is None:
            with self._lock:
                n = len(self._ids)
            fresh = Graph.build(self._dim, self._rows(0, 0)) if graph is None else graph
            fresh.add(self._rows(fresh.rows, n))
            with self._lock:
                self._graph = fresh
            return
        with self._file_lock() as mine:
            if not mine or self._saved < have + 1:
                return
            path = self._path("graph.usearch")
            if self._adopt_graph(self._read_disk_state()):
                return  # another process grew it meanwhile
            n = self._saved
            if graph is None:
                fresh = Graph.build(self._dim, self._mapped[:n])
            else:
                fresh = graph.loaded(path)
                fresh.add(self._mapped[have:n])
            fresh.save(path)
            state = dict(self._disk, graph_rows=n)
            self._replace("state.json", json.dumps(state, sort_keys=True).encode("utf-8"))
            mapped = Graph.open(path, n)
            with self._lock:
                self._graph = mapped
                self._disk = state

    def install_graph(self, path: Path) -> None:
        """Use a graph built elsewhere over this index's saved rows (keys = row numbers).

        For bulk loads that build the graph from the same vectors in another process.

        Raises:
            SearchIndexError: no files, the graph does not match the saved rows, or
                another process holds the files.
        """
        if self.directory is None or self._saved == 0:
            raise SearchIndexError("install_graph needs saved vector files")
        graph = Graph.open(path, self._saved)
        if len(graph) != self._saved:
            raise SearchIndexError(f"{path} holds {len(graph)} rows, the files {self._saved}")
        with self._file_lock() as mine:
            if not mine:
                raise SearchIndexError(f"another process is writing {self.directory}")
            target = self._path("graph.usearch")
            shutil.copyfile(path, target)
            state = dict(self._disk, graph_rows=self._saved)
            self._replace("state.json", json.dumps(state, sort_keys=True).encode("utf-8"))
            mapped = Graph.open(target, self._saved)
            with self._lock:
                self._graph = mapped
                self._disk = state

    def _adopt_graph(self, disk: dict[str, Any]) -> bool:
        """Map the saved graph if another process made it larger than ours."""
        rows = int(disk.get("graph_rows", 0))
        have = self._graph.rows if self._graph is not None else 0
        if rows <= have or rows > self._saved or disk.get("rows") != self._disk.get("rows"):
            return False
        try:
            graph = Graph.open(self._path("graph.usearch"), rows)
        except (OSError, ValueError, BackendUnavailable) as exc:
            log.warning("cannot open the vector graph %s: %s", self._path("graph.usearch"), exc)
            return False
        with self._lock:
            self._graph = graph
            self._disk = dict(self._disk, graph_rows=rows)
        return True

    def remove(self, ids: Sequence[str]) -> None:
        """Forget the vectors of deleted documents (the store's rows are gone already).

        A removed row is only marked dead, so a search running meanwhile sees arrays
        of one shape; a dead row is never a hit.
        """
        with self._lock:
            for doc_id in ids:
                at = self._pos.pop(doc_id, None)
                if at is not None and not self._dead[at]:
                    self._dead[at] = True
                    self._n_dead += 1

    def _grow(self, n_new: int, dim: int) -> None:
        size = len(self._ids) + n_new
        if self._dim and self._dim != dim:
            raise SearchIndexError(f"stored vectors have {dim} dimensions, the index {self._dim}")
        self._dim = dim
        if self._ts.shape[0] < size:
            capacity = max(size, int(self._ts.shape[0] * 1.5), 1024)
            self._ts = np.resize(self._ts, capacity)
            self._cols = {k: np.resize(v, capacity) for k, v in self._cols.items()}
            dead = np.zeros(capacity, dtype=np.bool_)
            dead[: len(self._ids)] = self._dead[: len(self._ids)]
            self._dead = dead
        rows = size - self._saved
        if self._tail.shape[0] < rows or self._tail.shape[1] != dim:
            capacity = max(rows, int(self._tail.shape[0] * 1.5), 1024)
            tail = np.zeros((capacity, dim), dtype=np.float32)
            held = len(self._ids) - self._saved
            if held:
                tail[:held] = self._tail[:held]
            self._tail = tail

    def _add(self, rows: list[VectorRow]) -> None:
        block = np.frombuffer(b"".join(r.vector for r in rows), dtype=np.float16)
        dim = block.size // len(rows)
        block = block.reshape(len(rows), dim)
        self._grow(len(rows), dim)
        for i, row in enumerate(rows):
            # A changed document gets a new row; its old one is dead (rows only grow).
            old = self._pos.get(row.id)
            if old is not None and not self._dead[old]:
                self._dead[old] = True
                self._n_dead += 1
            at = len(self._ids)
            self._ids.append(row.id)
            self._pos[row.id] = at
            self._tail[at - self._saved] = block[i]
            self._ts[at] = _NO_TIME if row.published_ts is None else row.published_ts
            for col, value in (
                ("lang", row.lang),
                ("source", row.source),
                ("category", row.category),
            ):
                self._cols[col][at] = self._codes[col].code(value)

    def _densify(self) -> None:
        """Hold the saved rows as float32 too when every search scans them and they fit."""
        with self._lock:
            dense, saved = self._dense, self._saved
            if self.uses_graph or saved * self._dim * 4 > _DENSE_BYTES:
                self._dense = None
            elif dense is None or dense.shape[0] != saved:
                self._dense = np.asarray(self._mapped[:saved], dtype=np.float32)

    def _rows(self, start: int, stop: int) -> NDArray[np.float32]:
        """Rows ``[start, stop)`` as float32 (from the mapped matrix and the tail)."""
        parts = []
        dense = self._dense
        if start < self._saved:
            end = min(stop, self._saved)
            if dense is not None and dense.shape[0] >= end:
                parts.append(dense[start:end])
            else:
                parts.append(np.asarray(self._mapped[start:end], np.float32))
        if stop > self._saved:
            lo = max(start, self._saved) - self._saved
            parts.append(self._tail[lo : stop - self._saved])
        if not parts:
            return np.zeros((0, self._dim), dtype=np.float32)
        return parts[0] if len(parts) == 1 else np.concatenate(parts)

    def __len__(self) -> int:
        return len(self._ids) - self._n_dead

    @property
    def usable(self) -> bool:
        return len(self) > 0 and not self.stale_reason

    @property
    def uses_graph(self) -> bool:
        """Whether searches go through the HNSW graph (else every search is exact)."""
        return self._graph is not None and self._graph_wanted()

    def _mask(self, flt: VectorFilter, n: int) -> NDArray[np.bool_]:
        mask = ~self._dead[:n]
        if flt.since_ts is not None:
            mask &= self._ts[:n] >= flt.since_ts
        if flt.until_ts is not None:
            mask &= (self._ts[:n] <= flt.until_ts) & (self._ts[:n] != _NO_TIME)
        for col, values in (
            ("lang", flt.langs),
            ("source", flt.sources),
            ("category", flt.categories),
        ):
            if values:
                mask &= np.isin(self._cols[col][:n], self._codes[col].lookup(values))
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
        with self._lock:
            code = self._codes["lang"].codes.get(lang, -1) if lang else None
            rows = [
                at
                for d in ids
                if (at := self._pos.get(d)) is not None
                and (code is None or self._cols["lang"][at] == code)
            ]
            if not rows:
                return np.zeros((0, self._dim), np.float32)
            return np.concatenate([self._rows(at, at + 1) for at in rows])

    def embed_query(self, text: str) -> NDArray[np.float32]:
        """The query's vector (read-only), from a small cache of recent queries.

        Paging, the web page's filters and followed topics repeat the same query
        text, and embedding it is most of a search's time. The cache is keyed by the
        exact text and the embedder's id (a change of model never answers from it).
        """
        key = (self.embedder.id, text)
        with self._queries_lock:
            cached = self._queries.get(key)
            if cached is not None:
                self._queries.move_to_end(key)
                return cached
        row = np.array(self.embedder.embed([text], query=True)[0], dtype=np.float32)
        row.setflags(write=False)
        with self._queries_lock:
            if any(k[0] != key[0] for k in self._queries):
                self._queries.clear()  # made by another model
            self._queries[key] = row
            while len(self._queries) > QUERY_CACHE_SIZE:
                self._queries.popitem(last=False)
        return row

    def clear_query_cache(self) -> None:
        """Forget the cached query vectors (benchmarks time a query's first search)."""
        with self._queries_lock:
            self._queries.clear()

    def search(
        self, query: NDArray[np.float32], limit: int, flt: VectorFilter | None = None
    ) -> list[VectorHit]:
        """The ``limit`` documents nearest to ``query`` (a unit vector), best first.

        Raises:
            SearchIndexError: the index is stale (built by another embedder).
        """
        return self.search_batch(query[None, :], limit, flt)[0]

    def search_batch(
        self,
        queries: NDArray[np.float32],
        limit: int,
        flt: VectorFilter | None = None,
        *,
        exact: bool = False,
    ) -> list[list[VectorHit]]:
        """:meth:`search` for each row of ``queries``.

        Exact: one pass over the matrix for all queries (the scan is bound by memory
        bandwidth, so a second query vector costs almost nothing). Above the
        threshold (unless ``exact``), the graph answers each query and the rows it
        lacks are scanned exactly.
        """
        reason = self.stale_reason
        if reason:
            raise SearchIndexError(reason)
        with self._lock:
            n = len(self._ids)
            if n == 0 or limit <= 0 or len(self) == 0:
                return [[] for _ in range(queries.shape[0])]
            if queries.shape[1] != self._dim:
                raise SearchIndexError(
                    f"query vector has {queries.shape[1]} dimensions, the index {self._dim}"
                )
            mask = self._mask(flt or VectorFilter(), n)
            graph = None if exact or not self.uses_graph else self._graph
            ids = self._ids
        q = queries.astype(np.float32, copy=False)
        if graph is None:
            self._densify()
        start = graph.rows if graph is not None else 0
        scores = self._scan(q, start, n)
        scores[~mask[start:n]] = -np.inf
        out = []
        for col in range(q.shape[0]):
            slots, sims = _top(scores[:, col], limit)
            slots = slots + start
            if graph is not None:
                more, more_sims = self._graph_search(graph, q[col], limit, mask[:start])
                slots = np.concatenate([more, slots])
                sims = np.concatenate([more_sims, sims])
                order = np.argsort(-sims, kind="stable")[:limit]
                slots, sims = slots[order], sims[order]
            # As Python numbers first: the same values, without a numpy scalar each.
            out.append(
                [
                    VectorHit(ids[s], v)
                    for s, v in zip(slots.tolist(), sims.astype(np.float32).tolist(), strict=True)
                ]
            )
        return out

    def _scan(self, q: NDArray[np.float32], start: int, stop: int) -> NDArray[np.float32]:
        """Exact scores of rows ``[start, stop)`` for each query column."""
        out = np.empty((stop - start, q.shape[0]), dtype=np.float32)
        for at in range(start, stop, _CHUNK):
            end = min(stop, at + _CHUNK)
            out[at - start : end - start] = self._rows(at, end) @ q.T
        return out

    def _scan_subset(self, q: NDArray[np.float32], slots: NDArray[np.int64]) -> NDArray[np.float32]:
        out = np.empty(len(slots), dtype=np.float32)
        saved = slots < self._saved
        if saved.any():
            out[saved] = np.asarray(self._mapped[slots[saved]], np.float32) @ q
        if not saved.all():
            out[~saved] = self._tail[slots[~saved] - self._saved] @ q
        return out

    def _graph_search(
        self, graph: Graph, q: NDArray[np.float32], limit: int, mask: NDArray[np.bool_]
    ) -> tuple[NDArray[np.int64], NDArray[np.float32]]:
        """The best ``limit`` graph rows inside ``mask``: graph answers, or an exact scan.

        The graph is asked for more than ``limit`` in proportion to how few rows the
        filter keeps; when it keeps so few that the graph would have to be asked for a
        large part of itself, or the answers still fall short, the kept rows are
        scanned exactly (so a filter never loses documents).
        """
        kept = int(np.count_nonzero(mask))
        if kept == 0:
            return np.zeros(0, np.int64), np.zeros(0, np.float32)
        share = kept / max(1, mask.shape[0])
        want = min(limit, kept)
        # Unfiltered, the graph's own breadth covers the misses; filtered, ask for more.
        ask = (want if share > 0.99 else int(want / share * 1.3)) + 16
        if kept <= max(2048, self.ann_threshold // 4) or ask > mask.shape[0] // 10:
            slots = np.flatnonzero(mask).astype(np.int64)
            top, sims = _top(self._scan_subset(q, slots), limit)
            return slots[top], sims
        keys, sims = graph.search(q, ask, self.ann_ef)
        keep = (keys >= 0) & (keys < mask.shape[0])
        keys, sims = keys[keep], sims[keep]
        keep = mask[keys]
        keys, sims = keys[keep], sims[keep]
        if len(keys) < want:
            slots = np.flatnonzero(mask).astype(np.int64)
            top, sims = _top(self._scan_subset(q, slots), limit)
            return slots[top], sims
        # Score the candidates as the exact scan does (the graph's float16 distances
        # can order near-ties differently), so both paths rank alike.
        top, sims = _top(self._scan_subset(q, keys), limit)
        return keys[top], sims


def _top(scores: NDArray[np.float32], k: int) -> tuple[NDArray[np.int64], NDArray[np.float32]]:
    """Positions and values of the ``k`` best finite scores, best first."""
    n = scores.shape[0]
    k = min(k, n)
    if k <= 0:
        return np.zeros(0, np.int64), np.zeros(0, np.float32)
    top = np.argpartition(-scores, k - 1)[:k] if k < n else np.arange(n)
    top = top[np.argsort(-scores[top], kind="stable")]
    top = top[np.isfinite(scores[top])]
    return top.astype(np.int64), scores[top].astype(np.float32)
