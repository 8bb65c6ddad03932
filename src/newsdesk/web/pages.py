"""Server-rendered pages: search, document, API docs, and the Atom feed of a search."""

from __future__ import annotations

import threading
import time
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

from fastapi import FastAPI, Query, Request
from fastapi.responses import HTMLResponse, Response
from fastapi.templating import Jinja2Templates

from newsdesk import __version__
from newsdesk.engine import Engine
from newsdesk.errors import NewsdeskError
from newsdesk.models import Document
from newsdesk.search import SORTS, SearchRequest
from newsdesk.views import timeline
from newsdesk.web.atom import render_atom

PAGE_SIZE = 10
FEED_SIZE = 20


def _fmt_time(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M") if value else "undated"


def _paragraph_text(doc: Document, n: int) -> str:
    p = doc.paragraph(n)
    if p is None:
        return ""
    return p.text if len(p.text) <= 280 else p.text[:277] + "…"


def _marked(text: str, spans: tuple[tuple[int, int], ...]) -> list[tuple[str, bool]]:
    """Split a snippet into (text, highlighted) runs; the template escapes each run."""
    out: list[tuple[str, bool]] = []
    pos = 0
    for start, end in sorted(spans):
        start, end = max(start, pos), min(end, len(text))
        if start >= end:
            continue
        if start > pos:
            out.append((text[pos:start], False))
        out.append((text[start:end], True))
        pos = end
    if pos < len(text):
        out.append((text[pos:], False))
    return out


class Refresher:
    """Catch up with other processes' ingests at most once a second, off the request path.

    The refresh runs on a background thread (one at a time): with a shared store it
    indexes what other machines stored into this server's index copy, which must not
    hold up a reader. A refresh that fails (the store's server is away) is tried again
    by a request a second later; searches meanwhile use what is already indexed.
    """

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._last = 0.0
        self._lock = threading.Lock()

    def __call__(self) -> None:
        now = time.monotonic()
        if now - self._last < 1.0 or not self._lock.acquire(blocking=False):
            return
        self._last = now
        threading.Thread(target=self._run, name="newsdesk-refresh", daemon=True).start()

    def _run(self) -> None:
        try:
            self.engine.refresh()
        except NewsdeskError:
            pass  # the next request's refresh tries again
        finally:
            self._lock.release()


def search_request(
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


def _chart(buckets: list[dict[str, Any]], params: dict[str, str]) -> dict[str, Any]:
    """Bar geometry for the timeline SVG; every bar links to its period."""
    if not buckets:
        return {"bars": [], "width": 0, "height": 0}
    peak = max(b["count"] for b in buckets) or 1
    width, height, gap = 12, 60, 2
    bars = []
    for i, b in enumerate(buckets):
        h = round(b["count"] / peak * (height - 4)) if b["count"] else 0
        label = b["start"] if b["start"] == b["end"] else f"{b['start']} – {b['end']}"
        href = "/?" + urlencode({**params, "since": b["start"], "until": b["end"]})
        bars.append(
            {
                "x": i * width,
                "y": height - h,
                "w": width - gap,
                "h": max(h, 1) if b["count"] else 0,
                "count": b["count"],
                "label": label,
                "href": href,
            }
        )
    return {
        "bars": bars,
        # A few buckets keep a bar's width instead of stretching across the chart.
        "width": max(len(buckets), 24) * width,
        "height": height,
        "first": buckets[0]["start"],
        "last": buckets[-1]["end"],
    }


def register(app: FastAPI, engine: Engine, templates: Jinja2Templates) -> None:
    """Add the HTML pages and the Atom feed to ``app``."""
    templates.env.globals["fmt_time"] = _fmt_time
    templates.env.globals["paragraph_text"] = _paragraph_text
    templates.env.globals["marked"] = _marked
    refresh = Refresher(engine)

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
        results = engine.search(search_request(q, sort, page, since, until, lang, source))
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
        undated = {k: v for k, v in params.items() if k not in ("since", "until")}
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
                "sources": engine.sources(),
                "results": results,
                "chart": _chart(timeline(results.published), undated) if q else None,
                "clear_dates_url": "/?" + urlencode(undated) if since or until else "",
                "page": page,
                "pages": pages,
                "prev_url": "/?" + urlencode({**params, "page": page - 1}) if page > 1 else "",
                "next_url": "/?" + urlencode({**params, "page": page + 1}) if page < pages else "",
                "atom_url": "/search.atom?" + urlencode(undated) if q else "",
                "sort_urls": {s: "/?" + urlencode({**params, "sort": s}) for s in SORTS},
            },
        )

    @app.get("/documents/{doc_id}", response_class=HTMLResponse, include_in_schema=False)
    def document_page(request: Request, doc_id: str) -> Response:
        doc = engine.document(doc_id)
        return templates.TemplateResponse(
            request,
            "document.html",
            {
                "doc": doc,
                "summary": engine.summary_for(doc_id),
                "others": engine.other_sources(doc),
                "summary_errors": engine.summary_errors(doc_id),
            },
        )

    @app.get("/search.atom", include_in_schema=False)
    def search_feed(
        request: Request,
        q: str = Query(..., min_length=1, max_length=1000),
        lang: str | None = Query(None, max_length=16),
        source: str | None = Query(None, max_length=200),
    ) -> Response:
        """Follow a topic in any feed reader: the newest relevant documents as Atom."""
        refresh()
        req = search_request(q, "newest", 1, None, None, lang, source, limit=FEED_SIZE)
        results = engine.search(req)
        base = str(request.base_url).rstrip("/")
        self_url = f"{base}/search.atom?{request.url.query}"
        page_url = f"{base}/?{urlencode({'q': q})}"
        body = render_atom(results, base_url=base, self_url=self_url, page_url=page_url)
        return Response(body, media_type="application/atom+xml; charset=utf-8")

    @app.get("/api/docs", response_class=HTMLResponse, include_in_schema=False)
    def api_docs(request: Request) -> Response:
        spec = request.app.openapi()
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
