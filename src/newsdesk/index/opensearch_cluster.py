"""An OpenSearch cluster as newsdesk's index: index lifecycle, catch-up, bulk indexing
(reaching the cluster: :mod:`.opensearch_client`).

Searches and writes go through an alias (``opensearch_index``, default ``newsdesk``)
that points at one concrete, versioned index ``<alias>-v<mapping>-<UTC time>``:

- a fresh cluster gets a new index and the alias;
- ``rebuild`` fills a *new* index from the store while the old one keeps answering,
  then swaps the alias in one atomic request and drops the old index (no downtime);
- a mapping from an older newsdesk is migrated in place when the change is additive
  (new fields: :data:`MIGRATIONS`), else searches keep using it and ``status`` asks
  for a rebuild.

The store stays the source of truth. Watermarks in the store (``opensearch`` for
documents, ``opensearch-vectors`` for their vectors, ``opensearch-deletions`` for the
deletions applied) record how far the cluster has followed it, together with the
concrete index name; when the alias points elsewhere (the cluster was wiped, or
another home rebuilt it) everything is sent again, which is safe because a
document's id is its ``_id``.

The cluster is one index for every process that uses the store (workers, web
servers, CLI commands on any machine). Catching it up runs under the store's named
lock (:data:`CATCH_UP_LOCK`), one process at a time; another process that finds the
lock taken gets :class:`~newsdesk.errors.SearchIndexError` ("busy"), as with the local
index's writer, and the holder goes on until nothing is left. The watermarks only
move forward, and only while they still name the index that was written
(``advance_index_state``), so a late or stale writer never takes them back.

Bulk requests are retried with exponential back-off when the cluster pushes back
(HTTP 429) and when a node does not answer; a document the cluster rejects stops
the catch-up with its reason, and the watermark only moves past batches the cluster
fully accepted.
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np

from newsdesk.errors import BackendUnavailable, SearchIndexError
from newsdesk.index.lexical import PARAMS as TERM_PARAMS
from newsdesk.index.lexical import IndexTerms, index_terms
from newsdesk.index.opensearch_client import (
    ClusterConfig,
    client_errors,
    connect,
    ox_request_error,
    reason_of,
)
from newsdesk.store import IndexRow, Store, VectorRow

STATE = "opensearch"
VECTOR_STATE = "opensearch-vectors"
# The latest deletion (its sequence number) the index has applied.
DELETION_STATE = "opensearch-deletions"
# The store's named lock held while the cluster is caught up (or its alias swapped).
CATCH_UP_LOCK = "opensearch-catch-up"
# How long a rebuild waits for a running catch-up before it swaps the alias.
SWAP_WAIT = 120.0
# The store's own vector watermark (newsdesk.index.vectors), and its parameters.
STORE_VECTORS = "vectors"
# Where a rebuild keeps its progress until the alias moves to the new index.
REBUILD_STATES = ("opensearch-rebuild", "opensearch-rebuild-vectors")
REBUILD_DELETIONS = "opensearch-rebuild-deletions"
# Bump on any change to the mapping or the analysis below; add a Migration for it.
MAPPING_VERSION = 1
TERMS_ANALYZER = "newsdesk_terms"
BATCH = 500
# Bulk requests: how often a document pushed back (429) is retried, and the back-off.
BULK_RETRIES = 6
BULK_BACKOFF = (1.0, 30.0)
# HNSW graph parameters of the lucene engine (m: links per node; ef_construction:
# candidates while building); the OpenSearch defaults.
HNSW = {"m": 16, "ef_construction": 100}


@dataclass(frozen=True, slots=True)
class Migration:
    """From mapping version ``source`` to ``source + 1``.

    ``properties`` are new fields, added in place; ``None`` means the change alters
    existing fields and needs ``newsdesk index rebuild``.
    """

    source: int
    properties: Mapping[str, Any] | None


MIGRATIONS: tuple[Migration, ...] = ()


class OpenSearchCluster:
    """The cluster side of the OpenSearch backend, shared by its lexical and vector views."""

    def __init__(
        self,
        config: ClusterConfig,
        store: Store,
        vector_params: Mapping[str, Any] | None = None,
        *,
        migrations: Sequence[Migration] = MIGRATIONS,
        mapping_version: int = MAPPING_VERSION,
        client: Any = None,
    ) -> None:
        """Args:
        config: where the cluster is and how to lay out the index.
        store: the source of truth, which also keeps the watermarks.
        vector_params: the embedder's id, width and text recipe (``None``: no vectors).
        migrations, mapping_version: the mapping history (tests give their own).
        client: an ``opensearchpy.OpenSearch`` (default: connect lazily).
        """
        self.config = config
        self.store = store
        self.vector_params = dict(vector_params) if vector_params else None
        self.migrations = tuple(migrations)
        self.mapping_version = mapping_version
        self._client = client
        self._index: str | None = None
        self._dim = 0
        # Why the index in the cluster must be rebuilt before it can serve everything.
        self.rebuild_reason = ""

    # -- connection ------------------------------------------------------------------------
    @property
    def client(self) -> Any:
        if self._client is None:
            self._client = connect(self.config)
        return self._client

    def errors(self, doing: str) -> contextlib.AbstractContextManager[None]:
        """Turn client errors into newsdesk errors that say what to do."""
        return client_errors(self.config.where, doing)

    # -- the index behind the alias ----------------------------------------------------------
    @property
    def alias(self) -> str:
        return self.config.alias

    @property
    def dim(self) -> int:
        """Width of the index's vector field (0: none)."""
        self.ensure()
        return self._dim

    def ensure(self) -> str:
        """The concrete index behind the alias, created or migrated as needed."""
        if self._index is not None:
            return self._index
        with self.errors("opening the index"):
            if not self.client.indices.exists_alias(name=self.alias):
                if self.client.indices.exists(index=self.alias):
                    raise SearchIndexError(
                        f"OpenSearch has an index named {self.alias!r}, where newsdesk keeps"
                        " an alias: set opensearch_index to another name"
                    )
                # A fixed first name: two processes starting on an empty cluster at
                # once meet at the same index instead of making two.
                name = f"{self.alias}-v{self.mapping_version}-0"
                if not self.client.indices.exists(index=name):
                    with contextlib.suppress(ox_request_error()):
                        self.create_index(name, bulk=False, raw=True)
                self.client.indices.put_alias(index=name, name=self.alias)
                self._forget_watermarks(name)
            found = self.client.indices.get_alias(name=self.alias)
            if len(found) != 1:
                raise SearchIndexError(
                    f"the alias {self.alias!r} points at {len(found)} indexes: {', '.join(found)}"
                )
            name = str(next(iter(found)))
            mapping = self.client.indices.get_mapping(index=name)[name]["mappings"]
        self._dim = self._check_mapping(name, mapping)
        self._index = name
        return name

    def _check_mapping(self, name: str, mapping: Mapping[str, Any]) -> int:
        self.rebuild_reason = ""
        meta = mapping.get("_meta", {}).get("newsdesk", {})
        version = int(meta.get("mapping_version", 0))
        if version > self.mapping_version:
            raise SearchIndexError(
                f"the index {name} was built by a newer newsdesk (mapping v{version}, this"
                f" one knows v{self.mapping_version}): upgrade newsdesk"
            )
        if version < self.mapping_version:
            version = self._migrate(name, version, dict(meta))
        if version < self.mapping_version:
            self.rebuild_reason = (
                f"the index {name} has mapping v{version}, this newsdesk writes"
                f" v{self.mapping_version}: run `newsdesk index rebuild`"
            )
        vector = mapping.get("properties", {}).get("vector", {})
        dim = int(vector.get("dimension", 0))
        want = int(self.vector_params["dim"]) if self.vector_params else 0
        if want and dim != want and not self.rebuild_reason:
            held = f"holds {dim}-dimensional vectors" if dim else "has no vector field"
            self.rebuild_reason = (
                f"the index {name} {held}, the embedder makes {want}-dimensional ones:"
                " run `newsdesk index rebuild`"
            )
        return dim

    def _migrate(self, name: str, version: int, meta: dict[str, Any]) -> int:
        """Apply the additive migrations from ``version``; returns the version reached."""
        steps = {m.source: m for m in self.migrations}
        while version < self.mapping_version:
            step = steps.get(version)
            if step is None or step.properties is None:
                break
            meta["mapping_version"] = version + 1
            with self.errors("migrating the mapping"):
                self.client.indices.put_mapping(
                    index=name,
                    body={"properties": dict(step.properties), "_meta": {"newsdesk": meta}},
                )
            version += 1
        return version

    def _new_name(self) -> str:
        stamp = datetime.now(UTC).strftime("%Y%m%d%H%M%S%f")
        return f"{self.alias}-v{self.mapping_version}-{stamp}"

    def _replicas(self) -> int:
        if self.config.replicas >= 0:
            return self.config.replicas
        with self.errors("reading the cluster's health"):
            nodes = int(self.client.cluster.health()["number_of_data_nodes"])
        return 1 if nodes >= 2 else 0

    def mapping(self) -> dict[str, Any]:
        """The mapping this newsdesk writes (see :data:`MAPPING_VERSION`)."""
        terms = {
            "type": "text",
            "analyzer": TERMS_ANALYZER,
            # The same words through Lucene's English analysis (stemming, stop words);
            # on Chinese it indexes single characters.
            "fields": {"en": {"type": "text", "analyzer": "english"}},
        }
        properties: dict[str, Any] = {
            "title": terms,
            "body": terms,
            "lang": {"type": "keyword"},
            "source": {"type": "keyword"},
            "category": {"type": "keyword"},
            "story": {"type": "keyword"},
            "ts": {"type": "long"},
            "rev": {"type": "long"},
        }
        meta: dict[str, Any] = {"mapping_version": self.mapping_version, "terms": TERM_PARAMS}
        if self.vector_params:
            properties["vector"] = {
                "type": "knn_vector",
                "dimension": int(self.vector_params["dim"]),
                # Always lucene: the faiss and nmslib engines need native libraries.
                "method": {
                    "name": "hnsw",
                    "engine": "lucene",
                    "space_type": "cosinesimil",
                    "parameters": HNSW,
                },
            }
            meta["vectors"] = dict(self.vector_params)
        return {
            "dynamic": "strict",
            # Vectors are read from the store when needed, never from the index source.
            "_source": {"excludes": ["vector"]},
            "_meta": {"newsdesk": meta},
            "properties": properties,
        }

    def create_index(self, name: str, *, bulk: bool, raw: bool = False) -> None:
        """Create ``name`` with newsdesk's mapping (for a bulk load: no refresh, no replicas).

        ``raw``: let the client's errors through (the caller handles them).
        """
        settings = {
            "index": {
                "number_of_shards": self.config.shards,
                "number_of_replicas": 0 if bulk else self._replicas(),
                "refresh_interval": "-1" if bulk else "1s",
                "knn": True,
            },
            "analysis": {
                # Terms arrive segmented and folded by newsdesk: split on spaces only.
                "analyzer": {TERMS_ANALYZER: {"type": "custom", "tokenizer": "whitespace"}}
            },
        }
        body = {"settings": settings, "mappings": self.mapping()}
        if raw:
            self.client.indices.create(index=name, body=body)
            return
        with self.errors(f"creating the index {name}"):
            self.client.indices.create(index=name, body=body)

    # -- watermarks (kept in the store) -----------------------------------------------------
    def _state(self, name: str) -> tuple[int, dict[str, Any]]:
        return self.store.index_state(name) or (0, {})

    def text_params(self, index: str) -> dict[str, Any]:
        return {"index": index, "mapping": self.mapping_version, "terms": TERM_PARAMS}

    def vector_state_params(self, index: str) -> dict[str, Any]:
        return {"index": index, **(self.vector_params or {})}

    @property
    def watermark(self) -> int:
        """Documents up to this revision are in the index (read from the store only)."""
        rev, params = self._state(STATE)
        if params.get("terms") != TERM_PARAMS or params.get("mapping") != self.mapping_version:
            return 0
        return rev

    @property
    def vector_watermark(self) -> int:
        rev, params = self._state(VECTOR_STATE)
        if not self.vector_params or params.get("embedder") != self.vector_params.get("embedder"):
            return 0
        return rev

    def reload(self) -> None:
        """Notice (from the store, without a request) that another process rebuilt the
        index: the alias, the vector width and the rebuild reason are read again."""
        index = self._state(STATE)[1].get("index")
        if index and index != self._index:
            self._index = None

    def vectors_current(self) -> bool:
        """Whether the store's vectors are the configured embedder's and fit the index."""
        if not self._dim or not self.vector_params:
            return False
        saved = self._state(STORE_VECTORS)[1]
        return all(saved.get(k) == self.vector_params.get(k) for k in ("embedder", "dim", "text"))

    def _forget_watermarks(self, index: str | None) -> None:
        """A new, empty ``index`` (or none): nothing sent yet, and no deletion to apply
        from before now (the documents it gets are read from the store after this)."""
        self.store.set_index_state(STATE, 0, {})
        self.store.set_index_state(VECTOR_STATE, 0, {})
        if index is None:
            self.store.set_index_state(DELETION_STATE, 0, {})
        else:
            seq = self.store.deletion_seq()
            self.store.set_index_state(DELETION_STATE, seq, {"index": index})

    def _advance(self, state: str, rev: int, params: Mapping[str, Any]) -> None:
        """Move a watermark forward (see the module docstring)."""
        self.store.advance_index_state(state, rev, dict(params))

    def _claim(self, state: str, params: Mapping[str, Any]) -> int:
        """The revision recorded under ``state`` for ``params``; if another index's (or
        nothing) is recorded there, start it at 0 for these."""
        rev, saved = self._state(state)
        if saved == dict(params):
            return rev
        self.store.set_index_state(state, 0, dict(params))
        return 0

    @contextlib.contextmanager
    def locked(self, wait: float = 0.0) -> Iterator[None]:
        """Hold the catch-up lock (waiting up to ``wait`` seconds for it).

        Raises:
            SearchIndexError: another process holds it (it is catching the index up).
        """
        deadline = time.monotonic() + wait
        while True:
            with self.store.try_lock(CATCH_UP_LOCK) as held:
                if held:
                    yield
                    return
            if time.monotonic() >= deadline:
                raise SearchIndexError(
                    "the OpenSearch index is busy: another process is catching it up"
                )
            time.sleep(0.2)

    def behind(self) -> bool:
        """Whether the store holds changes the index has not received (store reads only)."""
        if self.store.max_rev() > self.watermark:
            return True
        if self.store.deletion_seq() > self._state(DELETION_STATE)[0]:
            return True
        return bool(
            self._dim
            and not self.rebuild_reason
            and self.vectors_current()
            and self._state(STORE_VECTORS)[0] > self.vector_watermark
        )

    # -- writing ---------------------------------------------------------------------------
    def _doc(
        self, row: IndexRow, known: IndexTerms | None, vector: VectorRow | None
    ) -> dict[str, Any]:
        if known is None or known.title != row.title or known.body != row.body:
            known = index_terms(row.title, row.body)
        doc: dict[str, Any] = {
            "title": known.title_terms,
            "body": known.body_terms,
            "lang": row.lang,
            "source": row.source,
            "category": row.category,
            "story": row.story or row.id,
            "rev": row.rev,
        }
        if row.published_ts is not None:
            doc["ts"] = row.published_ts
        floats = _floats(vector.vector) if vector is not None and self._dim else None
        if floats is not None:
            doc["vector"] = floats
        return doc

    def bulk(self, actions: list[dict[str, Any]], doing: str) -> None:
        """Send bulk actions; retries pushed-back documents; raises on any rejection."""
        from opensearchpy import helpers

        failures: list[str] = []
        initial, cap = BULK_BACKOFF
        with self.errors(doing):
            for ok, item in helpers.streaming_bulk(
                self.client,
                actions,
                chunk_size=BATCH,
                max_chunk_bytes=20 * 1024 * 1024,
                raise_on_error=False,
                max_retries=BULK_RETRIES,
                initial_backoff=initial,  # type: ignore[arg-type]
                max_backoff=cap,  # type: ignore[arg-type]
                yield_ok=False,
            ):
                if not ok:
                    kind, op = next(iter(item.items()))
                    if kind == "delete" and op.get("status") == 404:
                        continue  # deleting what the index does not hold: nothing to do
                    failures.append(f"{op.get('_id')}: {reason_of(op)}")
        if failures:
            more = f" (and {len(failures) - 3} more)" if len(failures) > 3 else ""
            raise SearchIndexError(
                f"OpenSearch rejected {len(failures)} document(s) while {doing}: "
                + "; ".join(failures[:3])
                + more
            )

    def push_rows(
        self,
        index: str,
        rows: Sequence[IndexRow],
        terms: Mapping[str, IndexTerms] | None = None,
    ) -> None:
        """Index whole documents (with their current vectors, when the store has them)."""
        vectors = (
            self.store.current_embeddings([r.id for r in rows]) if self.vectors_current() else {}
        )
        actions = [
            {
                "_op_type": "index",
                "_index": index,
                "_id": r.id,
                "_source": self._doc(r, (terms or {}).get(r.id), vectors.get(r.id)),
            }
            for r in rows
        ]
        self.bulk(actions, f"indexing documents into {index}")

    def catch_up(
        self,
        progress: Callable[[int], None] | None = None,
        terms: Mapping[str, IndexTerms] | None = None,
    ) -> int:
        """Apply the deletions and send every document changed since the watermark;
        returns how many documents were sent.

        Raises:
            SearchIndexError: another process is catching the index up (it goes on
                until nothing is left), or the cluster refused something.
            BackendUnavailable: the cluster cannot be reached.
        """
        with self.locked():
            self._index = None  # the alias may have moved (a rebuild by another process)
            index = self.ensure()
            deleted = self._apply_deletions(index)
            done = self._fill(index, (STATE, VECTOR_STATE), progress, terms, refresh=False)
            if done or deleted:
                self.refresh(index)
            return done

    def delete(self, ids: Sequence[str]) -> None:
        """Remove documents from the index now (those it does not hold are ignored)."""
        if not ids:
            return
        with self.locked(SWAP_WAIT):
            index = self.ensure()
            self._delete(index, ids)
            self.refresh(index)

    def _delete(self, index: str, ids: Sequence[str]) -> None:
        self.bulk(
            [{"_op_type": "delete", "_index": index, "_id": i} for i in ids],
            f"deleting documents from {index}",
        )

    def _apply_deletions(self, index: str) -> int:
        """Delete from ``index`` the documents deleted from the store since it last did."""
        params = {"index": index}
        applied = self._claim(DELETION_STATE, params)
        seq = self.store.deletion_seq()
        if seq <= applied:
            return 0
        # Ids stored again since are left alone: the catch-up sends their new version.
        ids = self.store.deleted_since(applied)
        if ids:
            self._delete(index, ids)
        self._advance(DELETION_STATE, seq, params)
        return len(ids)

    def _fill(
        self,
        index: str,
        states: tuple[str, str],
        progress: Callable[[int], None] | None,
        terms: Mapping[str, IndexTerms] | None = None,
        *,
        refresh: bool,
    ) -> int:
        """Send the documents after the watermark kept under ``states`` (text, vectors)."""
        text_state, vector_state = states
        text_params = self.text_params(index)
        vector_params = self.vector_state_params(index)
        start = self._claim(text_state, text_params)
        vectors_from = self._claim(vector_state, vector_params)
        # Vectors stored before this point ride along with their documents; if the
        # index's vectors were as far as its documents, they move on together.
        embedded_to = self._state(STORE_VECTORS)[0]
        in_step = self.vectors_current() and vectors_from >= start
        done = 0
        rows = self.store.rows_since(start, BATCH)
        while rows:
            self.push_rows(index, rows, terms)
            rev = rows[-1].rev
            self._advance(text_state, rev, text_params)
            if in_step:
                vectors_from = max(vectors_from, min(embedded_to, rev))
                self._advance(vector_state, vectors_from, vector_params)
            done += len(rows)
            if progress is not None:
                progress(len(rows))
            rows = self.store.rows_since(rev, BATCH)
        if done and refresh:
            self.refresh(index)
        return done

    def _mark(self, state: str, params: Mapping[str, Any]) -> int:
        """The revision recorded under ``state`` if made with ``params``, else 0."""
        rev, saved = self._state(state)
        return rev if saved == dict(params) else 0

    def catch_up_vectors(self, progress: Callable[[int], None] | None = None) -> int:
        """Send the vectors stored since the vector watermark; returns how many.

        Raises:
            SearchIndexError: another process is catching the index up.
            BackendUnavailable: the cluster cannot be reached.
        """
        with self.locked():
            return self._send_vectors(progress)

    def _send_vectors(self, progress: Callable[[int], None] | None) -> int:
        self._index = None
        index = self.ensure()
        if not self.vectors_current() or self.rebuild_reason:
            return 0
        params = self.vector_state_params(index)
        done = 0
        rows = self.store.embedding_rows(self._claim(VECTOR_STATE, params), BATCH)
        while rows:
            actions = [
                {
                    "_op_type": "update",
                    "_index": index,
                    "_id": r.id,
                    # A document not indexed yet gets its vector and filters now and
                    # its words when the document catch-up reaches it.
                    "doc": doc,
                    "doc_as_upsert": True,
                    "retry_on_conflict": 3,
                }
                for r in rows
                if (doc := _vector_doc(r)) is not None
            ]
            if actions:
                self.bulk(actions, f"sending vectors to {index}")
            self._advance(VECTOR_STATE, rows[-1].rev, params)
            done += len(rows)
            if progress is not None:
                progress(len(rows))
            rows = self.store.embedding_rows(rows[-1].rev, BATCH)
        if done:
            self.refresh(index)
        return done

    def refresh(self, index: str | None = None) -> None:
        with self.errors("refreshing the index"):
            self.client.indices.refresh(index=index or self.alias)

    def rebuild(self, progress: Callable[[int], None] | None = None) -> int:
        """Fill a new index from the store, then swap the alias to it (no downtime).

        The old index answers searches until the swap, which is one atomic alias
        request; it is deleted afterwards. Other processes keep catching the old index
        up meanwhile; the swap waits for a running catch-up (:data:`SWAP_WAIT`), and
        what they sent after the rebuild read the store is sent again by the next one.
        """
        with self.errors("reading the alias"):
            old = (
                list(self.client.indices.get_alias(name=self.alias))
                if self.client.indices.exists_alias(name=self.alias)
                else []
            )
            if not old and self.client.indices.exists(index=self.alias):
                raise SearchIndexError(
                    f"OpenSearch has an index named {self.alias!r}, where newsdesk keeps an"
                    " alias: set opensearch_index to another name"
                )
        name = self._new_name()
        self.create_index(name, bulk=True)
        self._dim = int(self.vector_params["dim"]) if self.vector_params else 0
        # Documents deleted from now on may have been copied into the new index: the
        # first catch-up after the swap deletes them there.
        self.store.set_index_state(REBUILD_DELETIONS, self.store.deletion_seq(), {"index": name})
        try:
            done = self._fill(name, REBUILD_STATES, progress, refresh=False)
            replicas = self._replicas()
            with self.errors(f"finishing the index {name}"):
                self.client.indices.put_settings(
                    index=name,
                    body={"index": {"refresh_interval": "1s", "number_of_replicas": replicas}},
                )
                self.client.indices.refresh(index=name)
                wait = int(self.config.timeout)
                self.client.cluster.health(
                    index=name,
                    params={"wait_for_status": "yellow", "timeout": f"{wait}s"},
                    request_timeout=wait + 5,
                )
            with self.locked(SWAP_WAIT):
                old = self._swap(name)
        except BaseException:
            with contextlib.suppress(Exception):
                self.client.indices.delete(index=name)
            self._index = None
            raise
        with self.errors("deleting the old index"):
            for o in old:
                self.client.indices.delete(index=o, ignore_unavailable=True)
        return done

    def _swap(self, name: str) -> list[str]:
        """Point the alias at ``name`` alone and make its watermarks the live ones (under
        the catch-up lock); returns the indexes the alias left."""
        with self.errors(f"moving the alias to {name}"):
            # Read again under the lock: another rebuild may have swapped meanwhile.
            old = (
                [o for o in self.client.indices.get_alias(name=self.alias) if o != name]
                if self.client.indices.exists_alias(name=self.alias)
                else []
            )
            actions: list[dict[str, Any]] = [
                {"remove": {"index": o, "alias": self.alias}} for o in old
            ]
            actions.append({"add": {"index": name, "alias": self.alias}})
            self.client.indices.update_aliases(body={"actions": actions})
        self._index = name
        self.rebuild_reason = ""
        # Documents another process indexed into the old index meanwhile are after
        # these watermarks, so the next catch-up sends them to the new one.
        live_states = (STATE, VECTOR_STATE, DELETION_STATE)
        for rebuilt, live in zip((*REBUILD_STATES, REBUILD_DELETIONS), live_states, strict=True):
            rev, params = self._state(rebuilt)
            self.store.set_index_state(live, rev, params)
            self.store.set_index_state(rebuilt, 0, {})
        return old

    def drop(self) -> None:
        """Delete the indexes behind the alias (and the alias with them)."""
        with self.locked(SWAP_WAIT), self.errors("deleting the index"):
            if self.client.indices.exists_alias(name=self.alias):
                for name in self.client.indices.get_alias(name=self.alias):
                    self.client.indices.delete(index=name, ignore_unavailable=True)
            self._index = None
            self._forget_watermarks(None)

    # -- reading ---------------------------------------------------------------------------
    def count(self) -> int:
        with self.errors("counting documents"):
            return int(self.client.count(index=self.alias)["count"])

    def search(self, body: Mapping[str, Any], doing: str = "searching") -> dict[str, Any]:
        with self.errors(doing):
            found: dict[str, Any] = self.client.search(index=self.alias, body=body)
        return found

    def msearch(self, bodies: Sequence[Mapping[str, Any]], doing: str) -> list[dict[str, Any]]:
        lines: list[Mapping[str, Any]] = []
        for body in bodies:
            lines.extend(({"index": self.alias}, body))
        with self.errors(doing):
            answer = self.client.msearch(body=lines)
        out = []
        for response in answer["responses"]:
            if "error" in response:
                raise SearchIndexError(f"OpenSearch failed while {doing}: {response['error']}")
            out.append(response)
        return out

    def describe(self) -> dict[str, Any]:
        """Cluster, health and counts for ``newsdesk status``; never raises."""
        info: dict[str, Any] = {"backend": "opensearch", "url": self.config.where}
        try:
            with self.errors("reading the status"):
                root = self.client.info()
                health = self.client.cluster.health()
                info.update(
                    cluster=root.get("cluster_name", ""),
                    version=root.get("version", {}).get("number", ""),
                    health=health.get("status", ""),
                    nodes=health.get("number_of_nodes", 0),
                    alias=self.alias,
                )
            index = self.ensure()
            with self.errors("reading the index"):
                settings = self.client.indices.get_settings(index=index)[index]["settings"]
                vectors = (
                    self.client.count(index=index, body={"query": {"exists": {"field": "vector"}}})[
                        "count"
                    ]
                    if self._dim
                    else 0
                )
            info.update(
                index=index,
                mapping_version=self.mapping_version,
                shards=int(settings["index"]["number_of_shards"]),
                replicas=int(settings["index"]["number_of_replicas"]),
                documents=self.count(),
                vectors=int(vectors),
                dim=self._dim,
            )
            if self.rebuild_reason:
                info["needs_rebuild"] = self.rebuild_reason
        except (BackendUnavailable, SearchIndexError) as exc:
            info.setdefault("health", "unreachable")
            info["error"] = str(exc)
        return info

    def wait_until(self, predicate: Callable[[], bool], timeout: float) -> bool:
        """Poll ``predicate`` until true or ``timeout`` seconds pass (cluster start-up)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with contextlib.suppress(BackendUnavailable, SearchIndexError):
                if predicate():
                    return True
            time.sleep(0.5)
        return False


def _floats(blob: bytes) -> list[float] | None:
    """A stored float16 vector as JSON numbers (None for a zero vector, which has no
    direction and which Lucene refuses for cosine similarity)."""
    vec = np.frombuffer(blob, dtype=np.float16).astype(np.float32)
    norm = float(np.linalg.norm(vec))
    if norm == 0 or not math.isfinite(norm):
        return None
    return [float(x) for x in vec]


def _vector_doc(row: VectorRow) -> dict[str, Any] | None:
    floats = _floats(row.vector)
    if floats is None:
        return None
    doc: dict[str, Any] = {
        "vector": floats,
        "lang": row.lang,
        "source": row.source,
        "category": row.category,
    }
    if row.published_ts is not None:
        doc["ts"] = row.published_ts
    return doc
