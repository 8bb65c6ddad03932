"""Response models of the JSON API: what ``/api/v1/openapi.json`` declares.

The shapes are the ones :mod:`newsdesk.views` builds (the CLI's ``--json``); these
models describe and check them. They allow extra fields, so a field added to a view
reaches clients before its model names it, but every field named here is required to
have its declared type (FastAPI validates each response against its model).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class Out(BaseModel):
    model_config = ConfigDict(extra="allow")


# -- errors -----------------------------------------------------------------------------
class ErrorBody(Out):
    status: int = Field(description="The HTTP status, repeated")
    code: str = Field(description="A stable machine-readable code, e.g. not_found")
    message: str = Field(description="What went wrong, for a person")


class ErrorEnvelope(Out):
    """The one error shape of every route."""

    ok: Literal[False]
    error: ErrorBody


# -- documents and summaries ------------------------------------------------------------
class BulletOut(Out):
    text: str
    citations: list[int] = Field(description="Paragraph numbers (from 1) the bullet cites")


class SectionOut(Out):
    title: str
    bullets: list[BulletOut]


class DroppedOut(Out):
    text: str
    citations: list[int]
    reason: str


class VerificationOut(Out):
    ok: bool
    bullets_checked: int
    citations_checked: int
    numbers_checked: int
    repaired: int
    dropped: list[DroppedOut]


class SummaryOut(Out):
    language: str
    summarizer: str
    model: str
    prompt_version: str
    content_hash: str
    sections: list[SectionOut]
    verification: VerificationOut


class DuplicateOut(Out):
    id: str
    source: str
    url: str
    published_at: str | None
    lang: str = Field(description="The language of this version of the story")
    title: str
    other_language: bool = Field(
        description="The story's version in another language than the shown document's"
    )


class DocumentFields(Out):
    id: str
    title: str
    source: str
    published_at: str | None = Field(description="ISO 8601 with offset, or null")
    url: str
    lang: str
    category: str


class HitOut(DocumentFields):
    score: float = Field(
        description="How sure the search is that the document is about the query: the"
        " relevance decision's probability (0-1) in hybrid search, otherwise the"
        " retriever's own score"
    )
    duplicates: list[DuplicateOut]
    summary: SummaryOut | None
    snippet: str
    snippet_highlights: list[list[int]]
    matched: list[str] = Field(description="The query's words found in the document")
    by_meaning: bool = Field(description="Found close in meaning by the embeddings")
    confident: bool = Field(description="Judged relevant with confidence")
    why: str = Field(description="Why the result is listed, in words")


class BucketOut(Out):
    start: str
    end: str
    count: int


class SearchOut(Out):
    query: str
    total: int = Field(description="Stories judged relevant with confidence")
    listed: int = Field(
        description="Stories in this listing (relevance order goes on past the confident)"
    )
    sort: str
    retrieval: str
    results: list[HitOut]
    timeline: list[BucketOut]
    notes: list[str] = Field(
        default=[], description="What the query parser did, e.g. an unclosed quote"
    )


class ParagraphOut(Out):
    n: int
    text: str


class SummaryErrorOut(Out):
    summarizer: str
    language: str
    model: str
    prompt_version: str
    error: str
    created_at: str


class DocumentOut(DocumentFields):
    story_id: str
    paragraphs: list[ParagraphOut]
    summary: SummaryOut | None
    duplicates: list[DuplicateOut]
    summary_errors: list[SummaryErrorOut]


class SourceOut(Out):
    source: str
    documents: int


class SourcesOut(Out):
    sources: list[SourceOut]


class HealthOut(Out):
    ok: bool
    version: str
    documents: int
    indexed: int = Field(description="Documents in the lexical (word) index")
    embedded: int = Field(description="Documents with a current vector")
    not_indexed: int = Field(description="Documents the lexical index does not hold yet")
    without_vectors: int = Field(description="Documents semantic search cannot find yet")
    vector_index: str = Field(description="ok, off, or why the vectors cannot be used")
    catching_up: bool = Field(description="True while this server embeds what is missing")
    catch_up_error: str = Field(
        default="", description="Why the last catch-up stopped (embedder unavailable ...)"
    )
    warm_up_seconds: float = Field(
        default=0.0, description="How long this server took to warm up before it was ready"
    )
    warm_up_error: str = Field(
        default="", description="Why the warm-up failed (the server still serves what it can)"
    )
    process_id: int = Field(
        default=0, description="The server process that answered (one of --workers)"
    )
    background_work: bool = Field(
        default=True,
        description="Whether this process keeps the home's indexes up; exactly one of a"
        " home's server processes does",
    )


# -- changes ----------------------------------------------------------------------------
class AcceptedOut(Out):
    origin: str
    id: str
    outcome: str


class ProblemOut(Out):
    origin: str
    outcome: str
    reason: str


class DuplicateInputOut(Out):
    origin: str
    id: str
    duplicate_of: str


class NoteOut(Out):
    origin: str
    id: str
    note: str


class IngestOut(Out):
    ok: bool
    counts: dict[str, int]
    indexed: int
    index_deferred: bool
    embedded: int
    accepted: list[AcceptedOut]
    problems: list[ProblemOut]
    duplicates: list[DuplicateInputOut]
    notes: list[NoteOut]


class UrlIn(BaseModel):
    url: str = Field(max_length=2000, examples=["https://example.com/news/1.html"])


class FeedOut(Out):
    url: str
    title: str
    kind: str
    etag: str
    last_modified: str
    added_at: str
    last_polled: str | None
    last_ok: str | None
    last_status: str
    items_seen: int
    accepted: int
    error_count: int
    last_error: str


class FeedsOut(Out):
    feeds: list[FeedOut]


class FeedAddOut(Out):
    ok: bool
    added: bool
    feed: FeedOut


class FeedRemoveOut(Out):
    ok: bool
    removed: str


class FeedPollOut(Out):
    url: str
    status: str
    title: str
    items: int
    counts: dict[str, int]
    error: str


class FeedPollsOut(Out):
    ok: bool
    feeds: list[FeedPollOut]


class DeletionOut(Out):
    id: str
    title: str
    url: str
    deleted_at: str


class DeleteOut(Out):
    ok: bool
    deleted: DeletionOut


class DeletionsOut(Out):
    deletions: list[DeletionOut]


def errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` entries for these error statuses, all in the envelope."""
    text = {
        400: "The request is malformed (bad date, bad URL ...)",
        401: "Missing or wrong bearer token",
        403: "Writes are disabled (no api_token configured)",
        404: "No such document (or summary, feed)",
        405: "Method not allowed here (see the Allow header)",
        413: "Request body over max_request_bytes",
        422: "A parameter or the body does not validate",
        500: "Internal error",
        503: "Not ready: warming_up (loading models and indexes) or a backend unavailable",
    }
    return {s: {"model": ErrorEnvelope, "description": text.get(s, "Error")} for s in statuses}
