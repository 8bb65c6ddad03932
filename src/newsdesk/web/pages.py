"""Server-rendered pages: search, document, API docs, and the Atom feed of a search."""

from __future__ import annotations

import threading
import time
from datetime import date, datetime
from typing import Any
from urllib.parse import urlencode

from fastapi import FastAPI, Query, Request
from fastapi.responses import HTMLResponse, Response
from fastapi.templating import Jinja2Templates

from newsdesk import __version__
from newsdesk.engine import Engine
from newsdesk.errors import NewsdeskError
from newsdesk.models import Document
from newsdesk.reading import provenance, snippet_repeats
from newsdesk.search import SORTS, SearchRequest
from newsdesk.views import also_in, split_by_language, timeline, why
from newsdesk.web.atom import render_atom

PAGE_SIZE = 10
FEED_SIZE = 20
# The reader's language, remembered per browser (no script: a link sets it).
LANG_COOKIE = "newsdesk_lang"
READER_LANGUAGES = {"en": "English", "zh": "中文", "original": "Original"}
# Search state a document page carries so it can link back to the results.
SEARCH_KEYS = ("q", "sort", "page", "since", "until", "doc_lang", "source")


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
    doc_lang: str | None,
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
        langs=(doc_lang,) if doc_lang else (),
        sources=(source,) if source else (),
    )


def reader_language(request: Request, asked: str | None, default: str) -> tuple[str, bool]:
    """The language to show summaries in, and whether to remember it (a cookie).

    ``?lang=`` wins and is remembered; else the browser's cookie; else the setting.
    """
    if asked in READER_LANGUAGES:
        return str(asked), True
    remembered = request.cookies.get(LANG_COOKIE)
    if remembered in READER_LANGUAGES:
        return str(remembered), False
    return (default if default in READER_LANGUAGES else "en"), False


def remember_language(response: Response, language: str) -> None:
    response.set_cookie(
        LANG_COOKIE, language, max_age=365 * 24 * 3600, path="/", samesite="lax", httponly=True
    )


def _language_links(request: Request, current: str) -> list[dict[str, Any]]:
    """Links that switch the reader's language on this very page (no script)."""
    params = {k: v for k, v in request.query_params.items() if k != "lang"}
    return [
        {
            "code": code,
            "label": label,
            "href": f"{request.url.path}?{urlencode({**params, 'lang': code})}",
            "current": code == current,
        }
        for code, label in READER_LANGUAGES.items()
    ]


# Chart geometry (CSS pixels, x in percent of the width): a gutter for the count axis,
# room for counts above the bars and for dates below them.
_TOP, _PLOT, _GUTTER, _MAX_TICKS, _COUNTED_BARS = 16, 72, 7.0, 5, 24


def _tick_label(start: str, unit: str, first: bool) -> str:
    if unit == "month":
        return start[:7]
    return start if first else start[5:]


def _chart(buckets: list[dict[str, Any]], params: dict[str, str]) -> dict[str, Any]:
    """Bars, a count axis, date ticks and counts for the timeline SVG; every bar links
    to its period. x positions are percentages (the chart takes the page's width)."""
    if not buckets:
        return {"bars": []}
    peak = max(b["count"] for b in buckets) or 1
    n = len(buckets)
    step = (100.0 - _GUTTER) / n
    span = date.fromisoformat(buckets[0]["end"]) - date.fromisoformat(buckets[0]["start"])
    unit = "day" if span.days == 0 else "week" if span.days == 6 else "month"
    base = _TOP + _PLOT
    bars = []
    for i, b in enumerate(buckets):
        h = round(b["count"] / peak * _PLOT) if b["count"] else 0
        label = b["start"] if b["start"] == b["end"] else f"{b['start']} – {b['end']}"
        bars.append(
            {
                "x": round(_GUTTER + i * step + step * 0.1, 3),
                "w": round(step * 0.8, 3),
                "cx": round(_GUTTER + (i + 0.5) * step, 3),
                "slot_x": round(_GUTTER + i * step, 3),
                "slot_w": round(step, 3),
                "y": base - max(h, 1 if b["count"] else 0),
                "h": max(h, 1) if b["count"] else 0,
                "count": b["count"],
                # Counts are written above the bars when there is room for them.
                "show_count": bool(b["count"]) and n <= _COUNTED_BARS,
                "label": label,
                "href": "/?" + urlencode({**params, "since": b["start"], "until": b["end"]}),
            }
        )
    k = min(n, _MAX_TICKS)
    indexes = sorted({round(j * (n - 1) / (k - 1)) for j in range(k)}) if k > 1 else [0]
    ticks = [
        {
            "x": bars[i]["cx"],
            "label": _tick_label(buckets[i]["start"], unit, i == 0),
            "anchor": "start" if i == 0 and n > 1 else "end" if i == n - 1 and n > 1 else "middle",
            "minor": 0 < pos < len(indexes) - 1 and pos % 2 == 1,
        }
        for pos, i in enumerate(indexes)
    ]
    half = peak // 2 if peak >= 2 else 0
    axis = [{"value": peak, "y": _TOP}, {"value": 0, "y": base}]
    if half:
        axis.insert(1, {"value": half, "y": base - round(half / peak * _PLOT)})
    return {
        "bars": bars,
        "ticks": ticks,
        "axis": axis,
        "gutter": _GUTTER,
        "base": base,
        "height": base + 20,
        "unit": unit,
        "total": sum(b["count"] for b in buckets),
        "first": buckets[0]["start"],
        "last": buckets[-1]["end"],
    }


def register(app: FastAPI, engine: Engine, templates: Jinja2Templates) -> None:
    """Add the HTML pages and the Atom feed to ``app``."""
    templates.env.globals["fmt_time"] = _fmt_time
    templates.env.globals["paragraph_text"] = _paragraph_text
    templates.env.globals["marked"] = _marked
    templates.env.globals["provenance"] = provenance
    templates.env.globals["snippet_repeats"] = snippet_repeats
    templates.env.globals["why"] = why
    templates.env.globals["split_by_language"] = split_by_language
    templates.env.globals["also_in"] = also_in
    refresh = Refresher(engine)

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def search_page(
        request: Request,
        q: str = Query("", max_length=1000),
        sort: str = Query("newest", pattern="^(newest|relevance)$"),
        page: int = Query(1, ge=1, le=1000),
        since: str | None = Query(None, max_length=32),
        until: str | None = Query(None, max_length=32),
        doc_lang: str | None = Query(None, max_length=16),
        source: str | None = Query(None, max_length=200),
        lang: str | None = Query(None, pattern="^(en|zh|original)$"),
    ) -> Response:
        refresh()
        language, remember = reader_language(request, lang, engine.settings.summary_language)
        results = engine.search(search_request(q, sort, page, since, until, doc_lang, source))
        readers = engine.reader_summaries([h.document for h in results.hits], language)
        params = {
            k: v
            for k, v in {
                "q": q,
                "sort": sort,
                "since": since,
                "until": until,
                "doc_lang": doc_lang,
                "source": source,
            }.items()
            if v
        }
        undated = {k: v for k, v in params.items() if k not in ("since", "until")}
        pages = max(1, -(-results.pages_of // PAGE_SIZE))
        # A document page carries the search (and page) so it can link back to it.
        carried = urlencode({**params, "page": page}) if q else ""
        response = templates.TemplateResponse(
            request,
            "search.html",
            {
                "q": q,
                "sort": sort,
                "since": since or "",
                "until": until or "",
                "doc_lang": doc_lang or "",
                "source": source or "",
                "sources": engine.sources(),
                "results": results,
                "readers": readers,
                "language": language,
                "page_lang": "zh" if language == "zh" else "en",
                "language_links": _language_links(request, language),
                "doc_query": f"?{carried}" if carried else "",
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
        if remember:
            remember_language(response, language)
        return response

    @app.get("/documents/{doc_id}", response_class=HTMLResponse, include_in_schema=False)
    def document_page(
        request: Request,
        doc_id: str,
        lang: str | None = Query(None, pattern="^(en|zh|original)$"),
        q: str = Query("", max_length=1000),
    ) -> Response:
        doc = engine.document(doc_id)
        language, remember = reader_language(request, lang, engine.settings.summary_language)
        search = {
            k: v[:1000]
            for k, v in request.query_params.items()
            if (k in SEARCH_KEYS and v and k != "page") or (k == "page" and v.isdigit())
        }
        response = templates.TemplateResponse(
            request,
            "document.html",
            {
                "doc": doc,
                "q": q,
                "reader": engine.reader_summaries([doc], language).get(doc_id),
                "language": language,
                "page_lang": "zh" if language == "zh" else "en",
                "language_links": _language_links(request, language),
                "back_url": "/?" + urlencode(search) if q else "",
                "others": engine.other_sources(doc),
                "summary_errors": engine.summary_errors(doc_id),
            },
        )
        if remember:
            remember_language(response, language)
        return response

    @app.get("/search.atom", include_in_schema=False)
    def search_feed(
        request: Request,
        q: str = Query(..., min_length=1, max_length=1000),
        doc_lang: str | None = Query(None, max_length=16),
        source: str | None = Query(None, max_length=200),
    ) -> Response:
        """Follow a topic in any feed reader: the newest relevant documents as Atom."""
        refresh()
        req = search_request(q, "newest", 1, None, None, doc_lang, source, limit=FEED_SIZE)
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
