"""FastAPI application: the search page, the document page and the JSON API.

HTML is rendered on the server with autoescaping on, so every string that comes
from an article, a feed or a query reaches the browser as text. A strict
Content-Security-Policy forbids inline scripts and event handlers outright.
"""

from __future__ import annotations

import threading
import time
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from fastapi import FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from starlette.exceptions import HTTPException as StarletteHTTPException

from newsdesk import __version__
from newsdesk.config import Settings
from newsdesk.engine import Engine, open_engine
from newsdesk.errors import InputError, NewsdeskError, NotFound
from newsdesk.models import Document
from newsdesk.search import MAX_LIMIT, SORTS, SearchRequest
from newsdesk.views import document_json, search_json

HERE = Path(__file__).parent
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
PAGE_SIZE = 10


def _fmt_time(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M") if value else "undated"


def _secure(response: Response) -> None:
    response.headers["Content-Security-Policy"] = CSP
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "same-origin"


def _error(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse(
        {"ok": False, "error": {"status": status, "code": code, "message": message}},
        status_code=status,
    )


class _Refresher:
    """Reload the index at most once a second so other processes' ingests appear."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._last = 0.0
        self._lock = threading.Lock()

    def __call__(self) -> None:
        now = time.monotonic()
        if now - self._last < 1.0:
            return
        with self._lock:
            self._last = now
            self.engine.refresh()


def create_app(settings: Settings, engine: Engine | None = None) -> FastAPI:
    """Build the ASGI app over ``engine`` (opened from ``settings`` when not given)."""
    eng = engine or open_engine(settings)
    refresh = _Refresher(eng)
    app = FastAPI(
        title="newsdesk",
        version=__version__,
        description="Search news by topic; structured summaries with verified citations.",
        # FastAPI's interactive docs load scripts from a CDN; newsdesk runs offline and
        # forbids foreign scripts, so /api/docs is a server-rendered page instead.
        docs_url=None,
        openapi_url="/api/v1/openapi.json",
        redoc_url=None,
    )
    templates = Jinja2Templates(directory=str(HERE / "templates"))
    templates.env.globals["fmt_time"] = _fmt_time
    templates.env.globals["paragraph_text"] = _paragraph_text
    app.mount("/static", StaticFiles(directory=str(HERE / "static")), name="static")

    @app.middleware("http")
    async def security_headers(request: Request, call_next: Any) -> Response:
        response: Response = await call_next(request)
        _secure(response)
        return response

    def _is_api(request: Request) -> bool:
        return request.url.path.startswith("/api/")

    def _html_error(request: Request, status: int, message: str) -> Response:
        return templates.TemplateResponse(
            request, "error.html", {"status": status, "message": message}, status_code=status
        )

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        code = "not_found" if exc.status_code == 404 else "http_error"
        if _is_api(request):
            return _error(exc.status_code, code, str(exc.detail))
        return _html_error(request, exc.status_code, str(exc.detail))

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> Response:
        parts = []
        for e in exc.errors():
            loc = ".".join(str(x) for x in e.get("loc", ()) if x not in ("query", "path"))
            parts.append(f"{loc}: {e.get('msg', 'invalid')}")
        message = "; ".join(parts) or "invalid request"
        if _is_api(request):
            return _error(422, "invalid_request", message)
        return _html_error(request, 422, message)

    @app.exception_handler(NewsdeskError)
    async def newsdesk_error(request: Request, exc: NewsdeskError) -> Response:
        if isinstance(exc, NotFound):
            status, code = 404, "not_found"
        elif isinstance(exc, InputError):
            status, code = 400, "bad_request"
        else:
            status, code = 500, type(exc).__name__
        if _is_api(request):
            return _error(status, code, str(exc))
        return _html_error(request, status, str(exc))

    @app.exception_handler(Exception)
    async def unexpected_error(request: Request, exc: Exception) -> Response:
        # Starlette answers unexpected errors outside the middleware stack, so the
        # security headers are set here too.
        response: Response
        if _is_api(request):
            response = _error(500, "internal_error", "internal error")
        else:
            response = _html_error(request, 500, "internal error")
        _secure(response)
        return response

    def _request(
        q: str,
        sort: str,
        page: int,
        since: str | None,
        until: str | None,
        lang: str | None,
        source: str | None,
        limit: int = PAGE_SIZE,
    ) -> SearchRequest:
        return SearchRequest(
            query=q,
            sort=sort,
            limit=limit,
            offset=(page - 1) * limit,
            since=since or None,
            until=until or None,
            langs=(lang,) if lang else (),
            sources=(source,) if source else (),
        )

    # -- HTML --------------------------------------------------------------------------
    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def search_page(
        request: Request,
        q: str = Query("", max_length=1000),
        sort: str = Query("newest", pattern="^(newest|relevance)$"),
        page: int = Query(1, ge=1, le=1000),
        since: str | None = Query(None, max_length=32),
        until: str | None = Query(None, max_length=32),
        lang: str | None = Query(None, max_length=16),
        source: str | None = Query(None, max_length=200),
    ) -> Response:
        refresh()
        req = _request(q, sort, page, since, until, lang, source)
        results = eng.search(req)
        params = {
            k: v
            for k, v in {
                "q": q,
                "sort": sort,
                "since": since,
                "until": until,
                "lang": lang,
                "source": source,
            }.items()
            if v
        }
        pages = max(1, -(-results.total // PAGE_SIZE))
        return templates.TemplateResponse(
            request,
            "search.html",
            {
                "q": q,
                "sort": sort,
                "since": since or "",
                "until": until or "",
                "lang": lang or "",
                "source": source or "",
                "results": results,
                "page": page,
                "pages": pages,
                "prev_url": "/?" + urlencode({**params, "page": page - 1}) if page > 1 else "",
                "next_url": "/?" + urlencode({**params, "page": page + 1}) if page < pages else "",
                "sort_urls": {s: "/?" + urlencode({**params, "sort": s}) for s in SORTS},
            },
        )

    @app.get("/documents/{doc_id}", response_class=HTMLResponse, include_in_schema=False)
    def document_page(request: Request, doc_id: str) -> Response:
        doc = eng.document(doc_id)
        return templates.TemplateResponse(
            request,
            "document.html",
            {
                "doc": doc,
                "summary": eng.summary_for(doc_id),
                "others": eng.other_sources(doc),
                "summary_errors": eng.summary_errors(doc_id),
            },
        )

    @app.get("/api/docs", response_class=HTMLResponse, include_in_schema=False)
    def api_docs(request: Request) -> Response:
        spec = app.openapi()
        endpoints = [
            {
                "method": method.upper(),
                "path": path,
                "summary": op.get("summary", ""),
                "description": op.get("description", ""),
                "parameters": op.get("parameters", []),
            }
            for path, ops in spec.get("paths", {}).items()
            for method, op in ops.items()
        ]
        return templates.TemplateResponse(
            request, "api_docs.html", {"endpoints": endpoints, "version": __version__}
        )

    # -- JSON API ------------------------------------------------------------------------
    @app.get("/api/v1/health", tags=["meta"])
    def health() -> dict[str, Any]:
        """Liveness and counts."""
        info = eng.status()
        return {
            "ok": True,
            "version": __version__,
            "documents": info["documents"],
            "indexed": info["indexed"],
        }

    @app.get("/api/v1/search", tags=["search"])
    def api_search(
        q: str = Query("", max_length=1000, description="Query, Chinese or English"),
        sort: str = Query("newest", pattern="^(newest|relevance)$"),
        limit: int = Query(PAGE_SIZE, ge=1, le=MAX_LIMIT),
        offset: int = Query(0, ge=0, le=100_000),
        since: str | None = Query(None, max_length=32),
        until: str | None = Query(None, max_length=32),
        lang: str | None = Query(None, max_length=16),
        source: str | None = Query(None, max_length=200),
    ) -> dict[str, Any]:
        """Same contract as ``newsdesk search --json``."""
        refresh()
        req = _request(q, sort, 1, since, until, lang, source, limit)
        return search_json(eng.search(replace(req, offset=offset)))

    @app.get("/api/v1/documents/{doc_id}", tags=["documents"])
    def api_document(doc_id: str) -> dict[str, Any]:
        """Same contract as ``newsdesk show --json``."""
        doc = eng.document(doc_id)
        errors = [e.to_json() for e in eng.summary_errors(doc_id)]
        return document_json(doc, eng.summary_for(doc_id), eng.other_sources(doc), errors)

    @app.get("/api/v1/documents/{doc_id}/summary", tags=["documents"])
    def api_summary(doc_id: str) -> dict[str, Any]:
        """The structured summary of one document, with its verification record."""
        eng.document(doc_id)
        summary = eng.summary_for(doc_id)
        if summary is None:
            raise NotFound("summary", doc_id)
        return summary.to_json()

    app.state.engine = eng
    return app


def _paragraph_text(doc: Document, n: int) -> str:
    p = doc.paragraph(n)
    if p is None:
        return ""
    return p.text if len(p.text) <= 280 else p.text[:277] + "…"


__all__ = ["create_app"]
