"""Retrieval, fusion, relevance cut-off, near-duplicate collapse, sort and paging.

The lexical backend, the vector backend and the document store are reached through
the small protocols below, so another engine (OpenSearch, say) can slot in without
touching this module. Fusion and the cut-off are pure functions in
:mod:`newsdesk.ranking`; snippets in :mod:`newsdesk.snippets`.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time
from typing import Protocol

import numpy as np
from numpy.typing import NDArray

from newsdesk.errors import BackendUnavailable, InputError
from newsdesk.index.lexical import LexicalHit, LexicalQuery
from newsdesk.index.vectors import VectorFilter, VectorHit
from newsdesk.models import Document, DuplicateRef, Hit, SearchResults, Summary
from newsdesk.ranking import (
    FusionParams,
    Ranked,
    TermPresence,
    broad_cutoff,
    features,
    fuse,
    judge,
    with_presence,
)
from newsdesk.snippets import make_snippet, matched_terms
from newsdesk.text import detect_language, tokenize

SORTS = ("newest", "relevance")
MODES = ("hybrid", "lexical", "semantic")
MAX_LIMIT = 100


class LexicalBackend(Protocol):
    def search(self, query: LexicalQuery, limit: int) -> list[LexicalHit]: ...

    def browse(self, query: LexicalQuery, limit: int) -> list[LexicalHit]: ...

    def matching(self, query: LexicalQuery, ids: Sequence[str]) -> set[str]: ...

    def presence(
        self, terms: Sequence[str], ids: Sequence[str], lang: str = ""
    ) -> dict[str, TermPresence]: ...

    def term_weights(self, terms: Sequence[str]) -> tuple[float, ...]: ...


class VectorBackend(Protocol):
    @property
    def usable(self) -> bool: ...

    def embed_query(self, text: str) -> NDArray[np.float32]: ...

    def vectors_of(self, ids: Sequence[str], lang: str = "") -> NDArray[np.float32]: ...

    def search_batch(
        self, queries: NDArray[np.float32], limit: int, flt: VectorFilter | None = None
    ) -> list[list[VectorHit]]: ...


class DocumentSource(Protocol):
    def get_documents(self, ids: Sequence[str]) -> dict[str, Document]: ...

    def story_of(self, ids: Sequence[str]) -> dict[str, str]: ...

    def stories_and_times(self, ids: Sequence[str]) -> dict[str, tuple[str, datetime | None]]: ...

    def story_members(self, story_ids: Sequence[str]) -> dict[str, list[DuplicateRef]]: ...

    def get_summaries(
        self, ids: Sequence[str], summarizer: str, language: str | None = None
    ) -> dict[str, Summary]: ...


@dataclass(frozen=True, slots=True)
class SearchRequest:
    """What a user asked for, from the CLI, the web page or the API.

    ``mode`` picks the retrieval: ``hybrid`` (lexical + semantic, the default when
    documents have embeddings), ``lexical`` or ``semantic``; empty means the default.
    """

    query: str
    sort: str = "newest"
    limit: int = 10
    offset: int = 0
    since: str | None = None
    until: str | None = None
    langs: tuple[str, ...] = ()
    sources: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    mode: str = ""


@dataclass(frozen=True, slots=True)
class SearchPolicy:
    """Tunable constants of ranking, set from the settings."""

    relevance_floor: float = 0.3
    max_relevant: int = 200
    summarizer: str = "extractive"
    summary_language: str | None = None
    fusion: FusionParams = field(default_factory=FusionParams)
    default_mode: str = "hybrid"
    # Pseudo-relevance feedback: a second query vector, moved towards the vectors of
    # this many top lexical hits (in the query's language), searched alongside.
    feedback_docs: int = 5


@dataclass(frozen=True, slots=True)
class ParsedQuery:
    lexical: LexicalQuery
    semantic_text: str


@dataclass(frozen=True, slots=True)
class Candidates:
    """Both retrievers' answers to one query, before fusion."""

    lexical: list[tuple[str, float]]
    semantic: list[tuple[str, float]]
    mode: str
    feedback: list[tuple[str, float]] = field(default_factory=list)
    # Which query terms each candidate holds (hybrid mode with a relevance model).
    presence: dict[str, TermPresence] = field(default_factory=dict)
    term_weights: tuple[float, ...] = ()
    # The lists fused (with these parameters) when looking up the presence needed
    # it: ranking with the same parameters reuses it rather than fusing them again.
    fused: tuple[FusionParams, list[Ranked]] | None = None


_QUOTED = re.compile(r'"([^"]*)"')


def _parse_day(value: str, name: str, end: bool) -> int:
    try:
        if len(value) == 10:
            d = date.fromisoformat(value)
            moment = datetime.combine(d, time.max if end else time.min, tzinfo=UTC)
        else:
            moment = datetime.fromisoformat(value)
            if moment.tzinfo is None:
                moment = moment.replace(tzinfo=UTC)
    except ValueError as exc:
        raise InputError(f"{name} must be a date like 2025-09-10, got {value!r}") from exc
    return int(moment.timestamp())


def parse_request(request: SearchRequest) -> ParsedQuery:
    """Turn the query text and filters into a lexical query and the text to embed.

    Supports ``"exact phrases"``, ``-excluded`` words and ``OR`` (terms are OR-ed
    and ranked by BM25 anyway, so ``OR`` is accepted and needs no work).
    """
    text = request.query.strip()
    if len(text) > 1000:
        raise InputError("query is longer than 1000 characters")
    quoted = [m.group(1).strip() for m in _QUOTED.finditer(text)]
    phrases = tuple(tuple(toks) for q in quoted if (toks := tokenize(q)))
    rest = _QUOTED.sub(" ", text).replace('"', " ")
    terms: list[str] = []
    excluded: list[str] = []
    positive: list[str] = [q for q in quoted if q]
    try:
        words = shlex.split(rest, posix=True)
    except ValueError:
        words = rest.split()
    for word in words:
        if word in ("OR", "AND"):
            continue
        if word.startswith("-") and len(word) > 1:
            excluded.extend(tokenize(word[1:]))
        else:
            terms.extend(tokenize(word))
            positive.append(word)
    since_ts = _parse_day(request.since, "since", end=False) if request.since else None
    until_ts = _parse_day(request.until, "until", end=True) if request.until else None
    if since_ts is not None and until_ts is not None and since_ts > until_ts:
        raise InputError("since is after until")
    lexical = LexicalQuery(
        terms=tuple(terms),
        phrases=phrases,
        excluded=tuple(excluded),
        since_ts=since_ts,
        until_ts=until_ts,
        langs=request.langs,
        sources=request.sources,
        categories=request.categories,
    )
    # Only words that survive tokenizing carry meaning ("*" or "的" alone do not).
    semantic_text = " ".join(positive) if not lexical.empty else ""
    return ParsedQuery(lexical, semantic_text)


def query_notes(query: str) -> list[str]:
    """What :func:`parse_request` did with ``query`` that its writer may not expect."""
    notes = []
    if query.count('"') % 2:
        notes.append(
            "unclosed quote: the words after it were searched as plain words, not as a phrase"
        )
    return notes


def query_words(q: LexicalQuery) -> tuple[str, ...]:
    """The distinct words a relevant document would hold: terms, then phrase words."""
    return tuple(dict.fromkeys((*q.terms, *(t for p in q.phrases for t in p))))


def parse_query(request: SearchRequest) -> LexicalQuery:
    """The lexical part of :func:`parse_request`."""
    return parse_request(request).lexical


def _vector_filter(q: LexicalQuery) -> VectorFilter:
    return VectorFilter(
        since_ts=q.since_ts,
        until_ts=q.until_ts,
        langs=q.langs,
        sources=q.sources,
        categories=q.categories,
    )


@dataclass
class Searcher:
    """Runs a search request against the backends and a document source."""

    lexical: LexicalBackend
    documents: DocumentSource
    vectors: VectorBackend | None = None
    policy: SearchPolicy = field(default_factory=SearchPolicy)

    def _validate(self, request: SearchRequest) -> None:
        if request.sort not in SORTS:
            raise InputError(f"sort must be one of {', '.join(SORTS)}, got {request.sort!r}")
        if not 1 <= request.limit <= MAX_LIMIT:
            raise InputError(f"limit must be between 1 and {MAX_LIMIT}")
        if request.offset < 0:
            raise InputError("offset must not be negative")
        if request.mode and request.mode not in MODES:
            raise InputError(f"mode must be one of {', '.join(MODES)}, got {request.mode!r}")

    def candidates(
        self, request: SearchRequest, parsed: ParsedQuery | None = None, *, every: bool = False
    ) -> Candidates:
        """What each retriever finds for ``request`` (at most ``max_relevant`` each).

        ``every``: look up the query words of the whole broad set, also where that
        cannot change the decision (the evaluation fits the decision on them).
        """
        parsed = parsed or parse_request(request)
        q = parsed.lexical
        limit = self.policy.max_relevant
        mode = request.mode or self.policy.default_mode
        semantic_ok = self.vectors is not None and self.vectors.usable and parsed.semantic_text
        if mode != "lexical" and not semantic_ok:
            mode = "lexical"
        lexical: list[tuple[str, float]] = []
        if mode != "semantic":
            lexical = [(h.id, h.score) for h in self.lexical.search(q, limit)]
        semantic: list[tuple[str, float]] = []
        feedback: list[tuple[str, float]] = []
        if mode != "lexical" and self.vectors is not None:
            try:
                qvec = self.vectors.embed_query(parsed.semantic_text)
            except BackendUnavailable:
                # An embedding server that is down must not take search down with it:
                # answer by words, and say so in ``retrieval``.
                if mode == "semantic":
                    lexical = [(h.id, h.score) for h in self.lexical.search(q, limit)]
                return Candidates(lexical, [], "lexical")
            rows = [qvec]
            if mode == "hybrid":
                moved = self._feedback_vector(self.vectors, qvec, parsed.semantic_text, lexical)
                if moved is not None:
                    rows.append(moved)
            found = self.vectors.search_batch(np.stack(rows), limit, _vector_filter(q))
            lists = [[(h.id, h.score) for h in hits] for hits in found]
            if q.phrases or q.excluded:
                # Exact phrases and exclusions bind semantic matches too.
                allowed = self.lexical.matching(q, list({d for lst in lists for d, _ in lst}))
                lists = [[(d, s) for d, s in lst if d in allowed] for lst in lists]
            semantic = lists[0]
            feedback = lists[1] if len(lists) > 1 else []
        terms = query_words(q)
        presence: dict[str, TermPresence] = {}
        weights: tuple[float, ...] = ()
        params = self.policy.fusion
        fused: list[Ranked] = []
        if mode == "hybrid" and terms and params.relevance is not None:
            # Only the broad set is judged by the relevance model: look those up.
            fused = fuse(lexical, semantic, params, feedback)
            wanted = {r.id for r in broad_cutoff(fused, params)}
            # Only where holding the words can change the decision (most of a large
            # collection's broad set cannot reach the threshold whatever it holds).
            possible = params.relevance.could_keep(features(fused))
            ids = [
                r.id
                for r, ok in zip(fused, possible, strict=True)
                if r.id in wanted and (ok or every)
            ]
            lang = detect_language(parsed.semantic_text)
            presence = self.lexical.presence(terms, ids, lang if lang in ("zh", "en") else "")
            weights = self.lexical.term_weights(terms)
        return Candidates(
            lexical, semantic, mode, feedback, presence, weights, (params, fused) if fused else None
        )

    def _feedback_vector(
        self,
        vectors: VectorBackend,
        qvec: NDArray[np.float32],
        text: str,
        lexical: list[tuple[str, float]],
    ) -> NDArray[np.float32] | None:
        """The query's embedding moved towards its best lexical hits (None: no feedback).

        A short topic word (技术主权) embeds poorly on its own; the documents that
        use it literally say what it means, so their centroid finds documents
        about the topic that never use the word (Rocchio feedback). Only hits in
        the query's own language count: an English query's lexical hits among
        Chinese documents match stray Latin tokens, not the topic.
        """
        n = self.policy.feedback_docs
        if n <= 0 or not lexical:
            return None
        top = lexical[0][1]
        floor = self.policy.fusion.lexical_floor * top
        head = [d for d, s in lexical[: 4 * n] if s >= floor]
        # One document per story: syndicated copies would weigh one story n times.
        story_of = self.documents.story_of(head)
        stories: dict[str, str] = {}
        for d in head:
            story = story_of.get(d) or d
            stories.setdefault(story, d)
            if len(stories) == n:
                break
        ids = list(stories.values())
        lang = detect_language(text)
        fb = vectors.vectors_of(ids, lang if lang != "und" else "")
        if fb.shape[0] == 0:
            return None
        moved = qvec + fb.mean(axis=0)
        norm = float(np.linalg.norm(moved))
        return (moved / norm).astype(np.float32) if norm > 0 else None

    def _params(self, mode: str) -> FusionParams:
        params = self.policy.fusion
        # One retriever alone: its own scores order the results and its cut-off
        # applies (the relevance model is fitted on the fused evidence only).
        if mode == "lexical":
            return replace(params, method="convex", semantic_weight=0.0, relevance=None)
        if mode == "semantic":
            return replace(params, method="convex", semantic_weight=1.0, relevance=None)
        return params

    def rank(self, found: Candidates) -> list[Ranked]:
        """The candidates judged relevant with confidence, best first."""
        return self.rank_all(found)[1]

    def rank_all(self, found: Candidates) -> tuple[list[Ranked], list[Ranked]]:
        """(the candidates that may be relevant, the confident ones), both best first."""
        params = self._params(found.mode)
        if found.fused is not None and found.fused[0] is params:
            fused = list(found.fused[1])
        else:
            fused = fuse(found.lexical, found.semantic, params, found.feedback)
        if found.presence:
            fused = with_presence(fused, found.presence, found.term_weights)
        # The broad set, best first by the decision's own probability (the confident
        # ones first), which is then each result's score, whatever the sort.
        return judge(fused, params, broad_cutoff(fused, params))

    def search(self, request: SearchRequest) -> SearchResults:
        self._validate(request)
        parsed = parse_request(request)
        query = parsed.lexical
        if query.empty:
            if query.excluded:
                raise InputError("the query excludes words but asks for none")
            if request.query.strip():
                # Text with no searchable words ("*", "AND"): nothing is about it.
                return SearchResults(query=request.query, total=0, hits=(), sort=request.sort)
            browsed = self.lexical.browse(query, self.policy.max_relevant)
            ranked = [Ranked(h.id, h.score) for h in browsed]
            return self._assemble(request, parsed, ranked, ranked, "newest", "browse")
        found = self.candidates(request, parsed)
        broad, confident = self.rank_all(found)
        # Newest first lists only what is judged relevant with confidence; the
        # relevance order ranks every candidate, the confident ones first.
        listed = confident if request.sort == "newest" else broad
        return self._assemble(request, parsed, listed, confident, request.sort, found.mode)

    def _assemble(
        self,
        request: SearchRequest,
        parsed: ParsedQuery,
        ranked: list[Ranked],
        confident: list[Ranked],
        sort: str,
        mode: str,
    ) -> SearchResults:
        # Collapse near-duplicates: a story is represented by its best-ranked copy.
        # Only story ids and times are read for the whole relevant set; full text only
        # for the page shown.
        meta = self.documents.stories_and_times([r.id for r in ranked])
        seen: dict[str, Ranked] = {}
        for r in ranked:
            if r.id not in meta:
                continue  # indexed, but gone from the store since
            story = meta[r.id][0] or r.id
            if story not in seen:
                seen[story] = r
        stories = list(seen.items())
        sure = {r.id for r in confident}
        if sort == "relevance":
            # Confident first (stable: fused order within each part).
            stories.sort(key=lambda item: item[1].id not in sure)
        sure_stories = {meta[r.id][0] or r.id for r in confident if r.id in meta}
        if sort == "newest":

            def key(item: tuple[str, Ranked]) -> tuple[bool, float, float]:
                published = meta[item[1].id][1]
                ts = published.timestamp() if published else 0.0
                return (published is None, -ts, -item[1].score)

            stories.sort(key=key)
        page = stories[request.offset : request.offset + request.limit]
        ids = [r.id for _, r in page]
        docs = self.documents.get_documents(ids)
        summaries = self.documents.get_summaries(
            ids, self.policy.summarizer, self.policy.summary_language
        )
        members = self.documents.story_members([s for s, _ in page])
        terms = (*parsed.lexical.terms, *(t for p in parsed.lexical.phrases for t in p))
        out = []
        for story, r in page:
            doc = docs.get(r.id)
            if doc is None:
                continue
            snippet = make_snippet(doc, terms)
            out.append(
                Hit(
                    document=doc,
                    score=r.score,
                    duplicates=tuple(m for m in members.get(story, []) if m.id != r.id),
                    summary=summaries.get(r.id),
                    snippet=snippet.text,
                    highlights=snippet.highlights,
                    matched=matched_terms(doc, terms) if r.lexical is not None else (),
                    by_meaning=r.semantic is not None or r.feedback is not None,
                    confident=story in sure_stories,
                )
            )
        relevant = [(s, r) for s, r in stories if s in sure_stories]
        return SearchResults(
            query=request.query,
            total=len(relevant),
            hits=tuple(out),
            sort=sort,
            retrieval=mode,
            published=tuple(meta[r.id][1] for _, r in relevant),
            listed=len(stories),
        )
