"""Derived search indexes, rebuildable from the store at any time.

Two backends sit behind the same seam, picked by the ``index_backend`` setting in the
composition root (:mod:`newsdesk.engine`):

- ``local`` (default): tantivy BM25 in the home (:mod:`.lexical`) and the vectors in
  memory (:mod:`.vectors`);
- ``opensearch``: one OpenSearch index behind an alias holds the terms, the English
  analysis and the lucene HNSW vectors (:mod:`.opensearch`, lifecycle and bulk
  indexing in :mod:`.opensearch_cluster`), for every process that shares the store.

How far an index has followed the store is its watermark (:mod:`.watermarks`): in
the store for an index everyone shares (a local index beside a SQLite file, the
cluster), beside the copy for a local index per machine on a shared store.

:class:`SearchIndex` is what the engine needs of an index besides the query methods
that :mod:`newsdesk.search` defines (``search``, ``browse``, ``matching``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol

from newsdesk.index.lexical import IndexTerms, LexicalHit, LexicalIndex, LexicalQuery
from newsdesk.ranking import TermPresence


class SearchIndex(Protocol):
    """A lexical index kept in step with the store: its lifecycle and its queries."""

    @property
    def watermark(self) -> int:
        """The last store revision the index holds."""
        ...

    def pending(self) -> int:
        """Stored documents the index does not hold yet."""
        ...

    def behind(self) -> bool:
        """Whether the store has changes the index has not received (store reads only)."""
        ...

    def watermark_where(self) -> str:
        """Where the watermark is kept, for ``status``."""
        ...

    def catch_up(
        self,
        progress: Callable[[int], None] | None = None,
        terms: Mapping[str, IndexTerms] | None = None,
    ) -> int:
        """Index every document changed since the watermark; returns how many."""
        ...

    def delete(self, ids: Sequence[str]) -> None:
        """Remove documents from the index (those it does not hold are ignored)."""
        ...

    def catch_up_vectors(self, progress: Callable[[int], None] | None = None) -> int:
        """Send the index the vectors the store gained (0 where vectors live elsewhere)."""
        ...

    def rebuild(self, progress: Callable[[int], None] | None = None) -> int:
        """Build the index again from the store; returns how many documents it holds."""
        ...

    def reload(self) -> None:
        """See what other processes have indexed."""
        ...

    def describe(self) -> dict[str, Any]:
        """What ``newsdesk status`` says about the index (never raises)."""
        ...

    def drop(self) -> None:
        """Delete the index (the store keeps everything; a catch-up builds it again)."""
        ...

    def search(self, query: LexicalQuery, limit: int) -> list[LexicalHit]: ...

    def browse(self, query: LexicalQuery, limit: int) -> list[LexicalHit]: ...

    def matching(self, query: LexicalQuery, ids: Sequence[str]) -> set[str]: ...

    def presence(
        self, terms: Sequence[str], ids: Sequence[str], lang: str = ""
    ) -> dict[str, TermPresence]: ...

    def term_weights(self, terms: Sequence[str]) -> tuple[float, ...]: ...


__all__ = ["IndexTerms", "LexicalHit", "LexicalIndex", "LexicalQuery", "SearchIndex"]
