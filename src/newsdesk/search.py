"""Retrieval, relevance cut-off, near-duplicate collapse, sort and paging.

The lexical backend and the document store are reached through the small
protocols below, so another engine (OpenSearch, say) can slot in without
touching this module.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from typing import Protocol

from newsdesk.errors import InputError
from newsdesk.index.lexical import LexicalHit, LexicalQuery
from newsdesk.models import Document, DuplicateRef, Hit, SearchResults, Summary
from newsdesk.text import tokenize

SORTS = ("newest", "relevance")
MAX_LIMIT = 100


class LexicalBackend(Protocol):
    def search(self, query: LexicalQuery, limit: int) -> list[LexicalHit]: ...

    def browse(self, query: LexicalQuery, limit: int) -> list[LexicalHit]: ...


class DocumentSource(Protocol):
    def get_documents(self, ids: Sequence[str]) -> dict[str, Document]: ...

    def stories_and_times(self, ids: Sequence[str]) -> dict[str, tuple[str, datetime | None]]: ...

    def story_members(self, story_ids: Sequence[str]) -> dict[str, list[DuplicateRef]]: ...

    def get_summaries(
        self, ids: Sequence[str], summarizer: str, language: str | None = None
    ) -> dict[str, Summary]: ...


@dataclass(frozen=True, slots=True)
class SearchRequest:
    """What a user asked for, from the CLI, the web page or the API."""

    query: str
    sort: str = "newest"
    limit: int = 10
    offset: int = 0
    since: str | None = None
    until: str | None = None
    langs: tuple[str, ...] = ()
    sources: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class SearchPolicy:
    """Tunable constants of ranking, set from the settings."""

    relevance_floor: float = 0.3
    max_relevant: int = 200
    summarizer: str = "extractive"
    summary_language: str | None = None


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


def parse_query(request: SearchRequest) -> LexicalQuery:
    """Turn the query text and filters into a :class:`LexicalQuery`.

    Supports ``"exact phrases"``, ``-excluded`` words and ``OR`` (terms are OR-ed
    and ranked by BM25 anyway, so ``OR`` is accepted and needs no work).
    """
    text = request.query.strip()
    if len(text) > 1000:
        raise InputError("query is longer than 1000 characters")
    phrases = tuple(tuple(toks) for m in _QUOTED.finditer(text) if (toks := tokenize(m.group(1))))
    rest = _QUOTED.sub(" ", text).replace('"', " ")
    terms: list[str] = []
    excluded: list[str] = []
    try:
        words = shlex.split(rest, posix=True)
    except ValueError:
        words = rest.split()
    for word in words:
        if word == "OR" or word == "AND":
            continue
        if word.startswith("-") and len(word) > 1:
            excluded.extend(tokenize(word[1:]))
        else:
            terms.extend(tokenize(word))
    since_ts = _parse_day(request.since, "since", end=False) if request.since else None
    until_ts = _parse_day(request.until, "until", end=True) if request.until else None
    if since_ts is not None and until_ts is not None and since_ts > until_ts:
        raise InputError("since is after until")
    return LexicalQuery(
        terms=tuple(terms),
        phrases=phrases,
        excluded=tuple(excluded),
        since_ts=since_ts,
        until_ts=until_ts,
        langs=request.langs,
        sources=request.sources,
        categories=request.categories,
    )


def relevant(hits: list[LexicalHit], floor: float) -> list[LexicalHit]:
    """Keep the hits that are about the query: within ``floor`` of the best score."""
    if not hits:
        return []
    top = hits[0].score
    return [h for h in hits if h.score >= floor * top]


@dataclass
class Searcher:
    """Runs a search request against a lexical backend and a document source."""

    lexical: LexicalBackend
    documents: DocumentSource
    policy: SearchPolicy = field(default_factory=SearchPolicy)

    def search(self, request: SearchRequest) -> SearchResults:
        if request.sort not in SORTS:
            raise InputError(f"sort must be one of {', '.join(SORTS)}, got {request.sort!r}")
        if not 1 <= request.limit <= MAX_LIMIT:
            raise InputError(f"limit must be between 1 and {MAX_LIMIT}")
        if request.offset < 0:
            raise InputError("offset must not be negative")
        query = parse_query(request)
        if query.empty:
            if query.excluded:
                raise InputError("the query excludes words but asks for none")
            if request.query.strip():
                # Text with no searchable words ("*", "AND"): nothing is about it.
                return SearchResults(query=request.query, total=0, hits=(), sort=request.sort)
            hits = self.lexical.browse(query, self.policy.max_relevant)
            sort = "newest"
        else:
            hits = relevant(
                self.lexical.search(query, self.policy.max_relevant), self.policy.relevance_floor
            )
            sort = request.sort

        # Collapse near-duplicates: a story is represented by its best-ranked copy.
        # Only story ids and times are read for the whole relevant set; full text only
        # for the page shown.
        meta = self.documents.stories_and_times([h.id for h in hits])
        seen: dict[str, LexicalHit] = {}
        for h in hits:
            if h.id not in meta:
                continue  # removed from the store since the index last caught up
            story = meta[h.id][0]
            if story not in seen:
                seen[story] = h
        stories = list(seen.items())
        if sort == "newest":

            def key(item: tuple[str, LexicalHit]) -> tuple[bool, float, float]:
                published = meta[item[1].id][1]
                ts = published.timestamp() if published else 0.0
                return (published is None, -ts, -item[1].score)

            stories.sort(key=key)
        page = stories[request.offset : request.offset + request.limit]
        ids = [h.id for _, h in page]
        docs = self.documents.get_documents(ids)
        summaries = self.documents.get_summaries(
            ids, self.policy.summarizer, self.policy.summary_language
        )
        members = self.documents.story_members([s for s, _ in page])
        out = []
        for story, h in page:
            if h.id not in docs:
                continue
            others = tuple(m for m in members.get(story, []) if m.id != h.id)
            out.append(
                Hit(
                    document=docs[h.id],
                    score=h.score,
                    duplicates=others,
                    summary=summaries.get(h.id),
                )
            )
        return SearchResults(
            query=request.query,
            total=len(stories),
            hits=tuple(out),
            sort=sort,
            published=tuple(meta[h.id][1] for _, h in stories),
        )
