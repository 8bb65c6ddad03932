"""The JSON API under ``/api/v1``; the same shapes as the CLI's ``--json`` output.

Endpoints that change data need ``Authorization: Bearer <api_token>``; with no token
configured they are disabled. Read endpoints are open unless ``api_token_for_reads``.
"""

from __future__ import annotations

import hmac
import os
import re
import tempfile
import threading
from dataclasses import replace
from pathlib import Path
from typing import Any

from fastapi import Body, Depends, FastAPI, File, Header, Query, UploadFile

from newsdesk import __version__
from newsdesk.config import Settings
from newsdesk.engine import Engine
from newsdesk.errors import FetchError, InputError, NotFound, PermissionDenied
from newsdesk.ingest import RawRecord
from newsdesk.ingest.fetch import check_url
from newsdesk.ingest.normalize import record_key, superseded
from newsdesk.ingest.sources import SUPPORTED, SourceProblem
from newsdesk.search import MAX_LIMIT, query_notes
from newsdesk.views import document_json, ingest_json, search_json
from newsdesk.web import schemas
from newsdesk.web.pages import PAGE_SIZE, Refresher, search_request
from newsdesk.web.schemas import errors

MAX_DOCUMENTS_PER_REQUEST = 1000
LANG_QUERY = Query(
    None,
    pattern="^(en|zh|original)$",
    description="Show summaries and titles in en or zh (machine-translated and checked when"
    " a translator is configured) or in each document's original language",
)
_SAFE_NAME = re.compile(r"[^A-Za-z0-9._-]+")


def _token_ok(settings: Settings, authorization: str | None) -> bool:
    if not authorization or not authorization.startswith("Bearer "):
        return False
    given = authorization.removeprefix("Bearer ").strip()
    return hmac.compare_digest(given.encode(), settings.api_token.encode())


def write_denied(settings: Settings, authorization: str | None) -> PermissionDenied | None:
    """Why a request that changes data is refused, or None when its token is right."""
    if not settings.api_token:
        return PermissionDenied(
            "writes are disabled: set api_token (env NEWSDESK_API_TOKEN) to enable them", 403
        )
    if not _token_ok(settings, authorization):
        return PermissionDenied("missing or wrong bearer token", 401)
    return None


# Declared error statuses: every route can fail validation or internally; reads need the
# token when api_token_for_reads is set; writes need it always (and have bodies).
READ_ERRORS = errors(401, 422, 500)
WRITE_ERRORS = errors(400, 401, 403, 413, 422, 500)


def register(app: FastAPI, engine: Engine, settings: Settings) -> None:
    """Add the ``/api/v1`` routes to ``app``."""
    refresh = Refresher(engine)
    # One ingest at a time: the index has a single writer.
    ingest_lock = threading.Lock()

    def require_write(authorization: str | None = Header(None)) -> None:
        # The app checks this before it reads a body (web.app.TokenFirst); here it
        # declares the header in the schema and guards the route on its own.
        denied = write_denied(settings, authorization)
        if denied is not None:
            raise denied

    def require_read(authorization: str | None = Header(None)) -> None:
        if settings.api_token_for_reads and not _token_ok(settings, authorization):
            raise PermissionDenied("missing or wrong bearer token", 401)

    read = [Depends(require_read)]
    write = [Depends(require_write)]

    @app.get(
        "/api/v1/health",
        tags=["meta"],
        response_model=schemas.HealthOut,
        responses=errors(500, 503),
    )
    def health() -> dict[str, Any]:
        """Readiness and the truth about every index (always open, for monitors).

        503 with the code ``warming_up`` until the server is warm: its models and
        indexes loaded and one query run, so that its first real query is as fast as
        any other. ``not_indexed`` documents cannot be found by their words yet, and
        ``without_vectors`` ones not by their meaning; ``catching_up`` is true while
        this server embeds what a crash or a deferred ingest left without vectors.
        """
        warm_up = getattr(app.state, "warm_up", None)
        if warm_up is not None:
            warm_up.check()
        info = engine.status()
        return {
            "ok": True,
            "version": __version__,
            "documents": info["documents"],
            "indexed": info["indexed"],
            "embedded": info["embedded"],
            "not_indexed": info["not_indexed"],
            "without_vectors": info["without_vectors"],
            "vector_index": info["vector_index"],
            "catching_up": engine.catching_up,
            "catch_up_error": engine.catch_up_error,
            "warm_up_seconds": round(warm_up.seconds, 3) if warm_up is not None else 0.0,
            "warm_up_error": warm_up.error if warm_up is not None else "",
            "process_id": os.getpid(),
            "background_work": engine.background,
        }

    @app.get(
        "/api/v1/search",
        tags=["search"],
        dependencies=read,
        response_model=schemas.SearchOut,
        responses={**READ_ERRORS, **errors(400)},
    )
    def api_search(
        q: str = Query("", max_length=1000, description="Query, Chinese or English"),
        sort: str = Query("newest", pattern="^(newest|relevance)$"),
        limit: int = Query(PAGE_SIZE, ge=1, le=MAX_LIMIT),
        offset: int = Query(0, ge=0, le=100_000),
        since: str | None = Query(None, max_length=32, description="YYYY-MM-DD"),
        until: str | None = Query(None, max_length=32, description="YYYY-MM-DD"),
        doc_lang: str | None = Query(
            None, max_length=16, description="Only documents in this language (zh, en)"
        ),
        source: str | None = Query(None, max_length=200),
        lang: str | None = LANG_QUERY,
    ) -> dict[str, Any]:
        """Search; the same contract as ``newsdesk search --json``."""
        refresh()
        language = lang or settings.summary_language
        req = search_request(q, sort, 1, since, until, doc_lang, source, limit)
        results = engine.search(replace(req, offset=offset))
        readers = engine.reader_summaries([h.document for h in results.hits], language)
        return {**search_json(results, readers, language), "notes": query_notes(q)}

    @app.get(
        "/api/v1/documents/{doc_id}",
        tags=["documents"],
        dependencies=read,
        response_model=schemas.DocumentOut,
        responses={**READ_ERRORS, **errors(404)},
    )
    def api_document(doc_id: str, lang: str | None = LANG_QUERY) -> dict[str, Any]:
        """One document with numbered paragraphs; the same as ``newsdesk show --json``."""
        doc = engine.document(doc_id)
        language = lang or settings.summary_language
        errors = [e.to_json() for e in engine.summary_errors(doc_id)]
        reader = engine.reader_summaries([doc], language).get(doc_id)
        summary = engine.summary_for(doc_id, language)
        return document_json(doc, summary, engine.other_sources(doc), errors, reader)

    @app.get(
        "/api/v1/documents/{doc_id}/summary",
        tags=["documents"],
        dependencies=read,
        response_model=schemas.SummaryOut,
        responses={**READ_ERRORS, **errors(404)},
    )
    def api_summary(doc_id: str, lang: str | None = LANG_QUERY) -> dict[str, Any]:
        """The structured summary of one document as shown in ``lang``, with its
        verification record, each bullet's original and who translated it."""
        doc = engine.document(doc_id)
        reader = engine.reader_summaries([doc], lang or settings.summary_language).get(doc_id)
        if reader is None:
            raise NotFound("summary", doc_id)
        return reader.to_json()

    @app.get(
        "/api/v1/sources",
        tags=["search"],
        dependencies=read,
        response_model=schemas.SourcesOut,
        responses=READ_ERRORS,
    )
    def api_sources() -> dict[str, Any]:
        """Known sources with their document counts."""
        return {"sources": [{"source": s, "documents": n} for s, n in engine.sources()]}

    @app.delete(
        "/api/v1/documents/{doc_id}",
        tags=["documents"],
        dependencies=write,
        response_model=schemas.DeleteOut,
        responses={**WRITE_ERRORS, **errors(404)},
    )
    def api_delete_document(doc_id: str) -> dict[str, Any]:
        """Delete a document from the store and every index; the deletion is recorded.

        The same item may be ingested again afterwards.
        """
        with ingest_lock:
            deleted, _ = engine.delete_documents([doc_id])
        if not deleted:
            raise NotFound("document", doc_id)
        return {"ok": True, "deleted": deleted[0].to_json()}

    @app.get(
        "/api/v1/deletions",
        tags=["documents"],
        dependencies=read,
        response_model=schemas.DeletionsOut,
        responses=READ_ERRORS,
    )
    def api_deletions(limit: int = Query(100, ge=1, le=1000)) -> dict[str, Any]:
        """Documents deleted on request, newest first."""
        return {"deletions": [d.to_json() for d in engine.deletions(limit)]}

    @app.post(
        "/api/v1/documents",
        tags=["ingest"],
        dependencies=write,
        response_model=schemas.IngestOut,
        responses=WRITE_ERRORS,
    )
    def api_add_documents(
        payload: dict[str, Any] = Body(
            ...,
            description='One document in the JSONL schema, or {"documents": [...]}',
        ),
    ) -> dict[str, Any]:
        """Ingest documents given as JSON (fields as in a JSONL line)."""
        items = payload.get("documents") if "documents" in payload else [payload]
        if not isinstance(items, list) or not items:
            raise InputError("'documents' must be a non-empty list of objects")
        if len(items) > MAX_DOCUMENTS_PER_REQUEST:
            raise InputError(f"at most {MAX_DOCUMENTS_PER_REQUEST} documents per request")
        # The same document twice in one request: the last one wins, once.
        later = superseded([record_key(i) if isinstance(i, dict) else "" for i in items])

        def record(n: int, item: Any) -> RawRecord | SourceProblem:
            origin = f"request:{n}"
            if n - 1 in later:
                reason = f"superseded by request:{later[n - 1] + 1} (same id)"
                return SourceProblem(origin, reason, "skipped")
            if not isinstance(item, dict):
                return SourceProblem(origin, "document is not a JSON object")
            return RawRecord(origin=origin, fields=item)

        records = [record(n, item) for n, item in enumerate(items, start=1)]
        with ingest_lock:
            report = engine.ingest_records(records)
        return {"ok": True, **ingest_json(report)}

    def _web_url(url: str) -> str:
        # Only http(s) from the network: a path or file: URL would read this server's disk.
        if not url.strip():
            raise InputError('give the address as {"url": "https://..."}')
        try:
            return check_url(url)
        except FetchError as exc:
            raise InputError(str(exc)) from exc

    @app.post(
        "/api/v1/ingest/url",
        tags=["ingest"],
        dependencies=write,
        response_model=schemas.IngestOut,
        responses=WRITE_ERRORS,
    )
    def api_ingest_url(payload: schemas.UrlIn) -> dict[str, Any]:
        """Fetch a web page (or a feed's items) by http(s) URL and ingest it.

        Addresses that are not public (loopback, private, link-local ...) are refused
        unless the server allows them (``fetch_allow_private``).
        """
        url = _web_url(payload.url)
        with ingest_lock:
            report = engine.ingest_inputs([url])
        return {"ok": True, **ingest_json(report)}

    @app.get(
        "/api/v1/feeds",
        tags=["feeds"],
        dependencies=read,
        response_model=schemas.FeedsOut,
        responses=READ_ERRORS,
    )
    def api_feeds() -> dict[str, Any]:
        """The feeds this home follows, with their last poll and error state."""
        return {"feeds": [f.to_json() for f in engine.feeds()]}

    @app.post(
        "/api/v1/feeds",
        tags=["feeds"],
        dependencies=write,
        response_model=schemas.FeedAddOut,
        responses=WRITE_ERRORS,
    )
    def api_add_feed(payload: schemas.UrlIn) -> dict[str, Any]:
        """Follow a feed (RSS, Atom or JSON Feed) by http(s) URL; poll it to ingest."""
        info, added = engine.add_feed(_web_url(payload.url))
        return {"ok": True, "added": added, "feed": info.to_json()}

    @app.delete(
        "/api/v1/feeds",
        tags=["feeds"],
        dependencies=write,
        response_model=schemas.FeedRemoveOut,
        responses={**WRITE_ERRORS, **errors(404)},
    )
    def api_remove_feed(url: str = Query(..., max_length=2000)) -> dict[str, Any]:
        """Stop following a feed, named exactly as followed; its documents stay."""
        # Not re-validated: a feed stored with a URL that no longer parses must still go.
        if not url.strip() or not engine.remove_feed(url.strip()):
            raise NotFound("feed", url)
        return {"ok": True, "removed": url.strip()}

    @app.post(
        "/api/v1/feeds/poll",
        tags=["feeds"],
        dependencies=write,
        response_model=schemas.FeedPollsOut,
        responses=WRITE_ERRORS,
    )
    def api_poll_feeds() -> dict[str, Any]:
        """Poll every followed feed once (conditional requests) and ingest new items."""
        with ingest_lock:
            polls = engine.poll_feeds()
        return {"ok": True, "feeds": [p.to_json() for p in polls]}

    @app.post(
        "/api/v1/ingest/file",
        tags=["ingest"],
        dependencies=write,
        response_model=schemas.IngestOut,
        responses=WRITE_ERRORS,
    )
    def api_ingest_file(
        file: UploadFile = File(..., description="JSONL, HTML, text or Markdown"),
    ) -> dict[str, Any]:
        """Ingest one uploaded file; the result has an outcome for every document in it."""
        name = _SAFE_NAME.sub("_", Path(file.filename or "upload").name)[:100] or "upload"
        suffix = Path(name).suffix.lower()
        if suffix not in SUPPORTED:
            raise InputError(
                f"unsupported file type {suffix or '(none)'}; use one of {sorted(SUPPORTED)}"
            )
        with tempfile.TemporaryDirectory(prefix="newsdesk-upload-") as tmp:
            path = Path(tmp) / name
            with path.open("wb") as fh:
                while chunk := file.file.read(1 << 20):
                    fh.write(chunk)
            with ingest_lock:
                report = engine.ingest_paths([path])
        # Report origins by the uploaded name, not the temporary path.
        data = ingest_json(report)
        for key in ("accepted", "problems", "duplicates", "notes"):
            for item in data[key]:
                item["origin"] = item["origin"].replace(str(path), f"upload:{name}")
        return {"ok": True, **data}
