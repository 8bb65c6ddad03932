"""BM25 lexical index on tantivy, fed with pre-tokenized text.

Chinese is segmented by jieba-rs and English folded by :func:`newsdesk.text.tokenize`
before it reaches tantivy, whose ``whitespace`` tokenizer then only splits on spaces,
so the index and the query always agree on what a term is.

The index is derived data. The store records the last document revision the index
holds (its watermark); :meth:`LexicalIndex.catch_up` indexes every later revision,
deleting any earlier copy of a document first, so re-running after a crash is safe.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import tantivy

from newsdesk.errors import SearchIndexError
from newsdesk.index.watermarks import StoreWatermark, Watermark
from newsdesk.ranking import TermPresence, idf
from newsdesk.store import IndexRow, Store
from newsdesk.text import tokenize

NAME = "lexical"
# Anything that changes which terms a document produces belongs here: a mismatch
# with the parameters saved beside the index forces a rebuild.
PARAMS: dict[str, Any] = {"engine": "tantivy", "tokenizer": "rjieba-search+plural-fold", "v": 1}
TITLE_BOOST = 2.0
_BATCH = 2000


@dataclass(frozen=True, slots=True)
class LexicalQuery:
    """A parsed query: terms to score, phrases that must match, terms to exclude, filters."""

    terms: tuple[str, ...] = ()
    phrases: tuple[tuple[str, ...], ...] = ()
    excluded: tuple[str, ...] = ()
    since_ts: int | None = None
    until_ts: int | None = None
    langs: tuple[str, ...] = ()
    sources: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()

    @property
    def empty(self) -> bool:
        return not self.terms and not self.phrases


@dataclass(frozen=True, slots=True)
class IndexTerms:
    """The whitespace-joined index terms of a title and body, with the texts they came from."""

    title: str
    body: str
    title_terms: str
    body_terms: str


def index_terms(title: str, body: str) -> IndexTerms:
    """Segment a document for the index (pure; ingest workers call it too)."""
    return IndexTerms(
        title,
        body,
        " ".join(tokenize(title, for_index=True)),
        " ".join(tokenize(body, for_index=True)),
    )


@dataclass(frozen=True, slots=True)
class LexicalHit:
    id: str
    score: float


# Terms looked up per presence query: two score bits each and one for the language,
# 23 bits, all exact in a float32 score.
_TERMS_PER_QUERY = 11


def _schema() -> Any:
    sb = tantivy.SchemaBuilder()
    sb.add_text_field("id", stored=True, tokenizer_name="raw")
    sb.add_text_field("title", stored=False, tokenizer_name="whitespace")
    sb.add_text_field("body", stored=False, tokenizer_name="whitespace")
    sb.add_text_field("lang", stored=False, tokenizer_name="raw")
    sb.add_text_field("source", stored=False, tokenizer_name="raw")
    sb.add_text_field("category", stored=False, tokenizer_name="raw")
    sb.add_integer_field("ts", stored=False, indexed=True, fast=True)
    return sb.build()


class LexicalIndex:
    """A tantivy index in ``path``, kept in step with a store.

    ``state`` records how far the index has followed the store: by default in the
    store itself; for a copy of the index per machine, beside the copy
    (:mod:`newsdesk.index.watermarks`).
    """

    def __init__(self, path: Path, store: Store, state: Watermark | None = None) -> None:
        self.path = path
        self.store = store
        self.state = state or StoreWatermark(store, NAME)
        self._schema = _schema()
        saved = self.state.get()
        if saved is not None and saved[1] != PARAMS:
            # Built by another tokenizer version: its terms are not ours. Start afresh.
            self._reset()
        self._index = self._open()

    def _open(self) -> Any:
        self.path.mkdir(parents=True, exist_ok=True)
        try:
            return tantivy.Index(self._schema, path=str(self.path), reuse=True)
        except ValueError as exc:
            raise SearchIndexError(f"cannot open the lexical index at {self.path}: {exc}") from exc

    def _reset(self) -> None:
        shutil.rmtree(self.path, ignore_errors=True)
        self.state.set(0, PARAMS)

    # -- writing -----------------------------------------------------------------------
    @property
    def watermark(self) -> int:
        saved = self.state.get()
        return saved[0] if saved else 0

    def pending(self) -> int:
        return self.store.count_documents() - self.store.count_documents(self.watermark)

    def behind(self) -> bool:
        return self.store.max_rev() > self.watermark

    def watermark_where(self) -> str:
        return self.state.describe()

    def catch_up(
        self,
        progress: Callable[[int], None] | None = None,
        terms: Mapping[str, IndexTerms] | None = None,
    ) -> int:
        """Index every document changed since the watermark; returns how many.

        ``terms`` may hold the index terms of some documents, computed elsewhere (by
        ingest workers); they are used only if made from the very title and body
        the store now holds.

        Raises:
            SearchIndexError: another process holds the index writer.
        """
        start = self.watermark
        rows = self.store.rows_since(start, _BATCH)
        if not rows:
            return 0
        try:
            writer = self._index.writer(heap_size=64_000_000, num_threads=1)
        except ValueError as exc:
            raise SearchIndexError(f"the lexical index is busy (locked): {exc}") from exc
        done = 0
        try:
            while rows:
                for row in rows:
                    writer.delete_documents_by_term("id", row.id)
                    writer.add_document(self._to_doc(row, (terms or {}).get(row.id)))
                writer.commit()
                # Only after tantivy has committed may the watermark move past these rows.
                self.state.set(rows[-1].rev, PARAMS)
                done += len(rows)
                if progress is not None:
                    progress(len(rows))
                rows = self.store.rows_since(rows[-1].rev, _BATCH)
        finally:
            writer.wait_merging_threads()
        self._index.reload()
        return done

    def delete(self, ids: Sequence[str]) -> None:
        """Remove documents from the index (those it does not hold are ignored).

        Raises:
            SearchIndexError: another process holds the index writer.
        """
        if not ids:
            return
        try:
            writer = self._index.writer(heap_size=15_000_000, num_threads=1)
        except ValueError as exc:
            raise SearchIndexError(f"the lexical index is busy (locked): {exc}") from exc
        try:
            for doc_id in ids:
                writer.delete_documents_by_term("id", doc_id)
            writer.commit()
        finally:
            writer.wait_merging_threads()
        self._index.reload()

    def rebuild(self, progress: Callable[[int], None] | None = None) -> int:
        """Drop the index and build it again from the store."""
        self._reset()
        self._index = self._open()
        return self.catch_up(progress)

    def catch_up_vectors(self, progress: Callable[[int], None] | None = None) -> int:
        """Vectors live in :class:`~newsdesk.index.vectors.VectorIndex`: nothing to send."""
        return 0

    def describe(self) -> dict[str, Any]:
        return {"backend": "tantivy", "path": str(self.path), "documents": self.num_docs()}

    def drop(self) -> None:
        self._reset()
        self._index = self._open()

    def _to_doc(self, row: IndexRow, known: IndexTerms | None = None) -> Any:
        if known is None or known.title != row.title or known.body != row.body:
            known = index_terms(row.title, row.body)
        fields: dict[str, Any] = {
            "id": row.id,
            "title": known.title_terms,
            "body": known.body_terms,
            "lang": row.lang,
            "source": row.source,
            "category": row.category,
        }
        if row.published_ts is not None:
            fields["ts"] = row.published_ts
        return tantivy.Document(**fields)

    # -- reading -----------------------------------------------------------------------
    def reload(self) -> None:
        self._index.reload()

    def num_docs(self) -> int:
        return int(self._index.searcher().num_docs)

    def _field_query(self, name: str, values: Sequence[str]) -> Any:
        return tantivy.Query.boolean_query(
            [
                (tantivy.Occur.Should, tantivy.Query.term_query(self._schema, name, v))
                for v in values
            ]
        )

    def _scored(self, fieldname: str, term: str) -> Any:
        q = tantivy.Query.term_query(self._schema, fieldname, term)
        return tantivy.Query.boost_query(q, TITLE_BOOST) if fieldname == "title" else q

    def build(self, query: LexicalQuery) -> Any:
        occ = tantivy.Occur
        clauses: list[tuple[Any, Any]] = []
        should = [
            (occ.Should, self._scored(f, t))
            for t in dict.fromkeys(query.terms)
            for f in ("title", "body")
        ]
        if should:
            clauses.append((occ.Must, tantivy.Query.boolean_query(should)))
        for phrase in query.phrases:
            per_field = []
            for f in ("title", "body"):
                if len(phrase) == 1:
                    per_field.append((occ.Should, self._scored(f, phrase[0])))
                else:
                    pq = tantivy.Query.phrase_query(self._schema, f, list(phrase))
                    if f == "title":
                        pq = tantivy.Query.boost_query(pq, TITLE_BOOST)
                    per_field.append((occ.Should, pq))
            clauses.append((occ.Must, tantivy.Query.boolean_query(per_field)))
        for term in query.excluded:
            for f in ("title", "body"):
                clauses.append((occ.MustNot, tantivy.Query.term_query(self._schema, f, term)))
        clauses.extend(self._filters(query))
        return tantivy.Query.boolean_query(clauses)

    def _filters(self, query: LexicalQuery) -> list[tuple[Any, Any]]:
        occ = tantivy.Occur
        clauses: list[tuple[Any, Any]] = []
        if query.since_ts is not None or query.until_ts is not None:
            rq = tantivy.Query.range_query(
                self._schema, "ts", tantivy.FieldType.Integer, query.since_ts, query.until_ts
            )
            clauses.append((occ.Must, rq))
        for name, values in (
            ("lang", query.langs),
            ("source", query.sources),
            ("category", query.categories),
        ):
            if values:
                clauses.append((occ.Must, self._field_query(name, values)))
        return clauses

    def search(self, query: LexicalQuery, limit: int) -> list[LexicalHit]:
        if query.empty:
            return []
        searcher = self._index.searcher()
        result = searcher.search(self.build(query), limit, count=False)
        hits = []
        for score, address in result.hits:
            doc = searcher.doc(address)
            hits.append(LexicalHit(id=doc["id"][0], score=float(score)))
        return hits

    def matching(self, query: LexicalQuery, ids: Sequence[str]) -> set[str]:
        """Those of ``ids`` that satisfy the query's phrases, exclusions and filters.

        The query's plain terms are not required: this vets documents another
        retriever found by meaning.
        """
        if not ids:
            return set()
        occ = tantivy.Occur
        clauses: list[tuple[Any, Any]] = [(occ.Must, self._field_query("id", list(ids)))]
        if query.phrases:
            clauses.append((occ.Must, self.build(LexicalQuery(phrases=query.phrases))))
        for term in query.excluded:
            for f in ("title", "body"):
                clauses.append((occ.MustNot, tantivy.Query.term_query(self._schema, f, term)))
        clauses.extend(self._filters(query))
        searcher = self._index.searcher()
        result = searcher.search(tantivy.Query.boolean_query(clauses), len(ids), count=False)
        return {searcher.doc(a)["id"][0] for _, a in result.hits}

    def term_weights(self, terms: Sequence[str]) -> tuple[float, ...]:
        """BM25's inverse document frequency of each term (title or body, the larger)."""
        searcher = self._index.searcher()
        n = int(searcher.num_docs)
        dfs = [max(searcher.doc_freq("title", t), searcher.doc_freq("body", t)) for t in terms]
        return tuple(idf(df, n) for df in dfs)

    def presence(
        self, terms: Sequence[str], ids: Sequence[str], lang: str = ""
    ) -> dict[str, TermPresence]:
        """Which of ``terms`` each of ``ids`` holds, and whether it is in language ``lang``.

        One query restricted to ``ids`` (a few hundred candidates) per 11 terms, so
        the cost does not grow with the collection: each term's title and body
        clause and the language clause add a distinct power of two to a document's
        score (constant scores, summed exactly in float32), so the score says which
        of them it matched.
        """
        if not ids:
            return {}
        occ = tantivy.Occur
        searcher = self._index.searcher()
        schema = self._schema
        restrict = (
            occ.Must,
            tantivy.Query.const_score_query(
                tantivy.Query.term_set_query(schema, "id", list(ids)), 0.0
            ),
        )
        limit = len(ids)
        anywhere = dict.fromkeys(ids, 0)
        title = dict.fromkeys(ids, 0)
        same = dict.fromkeys(ids, not lang)
        # Stored ids by address: reading one costs more than the search itself.
        at: dict[tuple[int, int], str] = {}
        terms = list(terms[:30])
        for start in range(0, max(1, len(terms)), _TERMS_PER_QUERY):
            group = terms[start : start + _TERMS_PER_QUERY]
            clauses = [restrict]
            for i, term in enumerate(group):
                for field_name, bit in (("title", 2 * i + 1), ("body", 2 * i + 2)):
                    clause = tantivy.Query.term_query(schema, field_name, term)
                    clauses.append(
                        (occ.Should, tantivy.Query.const_score_query(clause, float(1 << bit)))
                    )
            if lang and start == 0:
                clause = tantivy.Query.term_query(schema, "lang", lang)
                clauses.append((occ.Should, tantivy.Query.const_score_query(clause, 1.0)))
            query = tantivy.Query.boolean_query(clauses)
            for score, a in searcher.search(query, limit, count=False).hits:
                key = (a.segment_ord, a.doc)
                doc_id = at.get(key)
                if doc_id is None:
                    doc_id = at[key] = searcher.doc(a)["id"][0]
                bits = int(score)
                if lang and start == 0 and bits & 1:
                    same[doc_id] = True
                for i in range(len(group)):
                    in_title = bits >> (2 * i + 1) & 1
                    if in_title:
                        title[doc_id] |= 1 << (start + i)
                    if in_title or bits >> (2 * i + 2) & 1:
                        anywhere[doc_id] |= 1 << (start + i)
        return {d: TermPresence(anywhere[d], title[d], same[d]) for d in ids}

    def browse(self, query: LexicalQuery, limit: int) -> list[LexicalHit]:
        """Newest documents matching only the filters of ``query`` (its terms are ignored)."""
        clauses = [(tantivy.Occur.Must, tantivy.Query.all_query()), *self._filters(query)]
        searcher = self._index.searcher()
        result = searcher.search(
            tantivy.Query.boolean_query(clauses), limit, count=False, order_by_field="ts"
        )
        return [LexicalHit(id=searcher.doc(a)["id"][0], score=0.0) for _, a in result.hits]
