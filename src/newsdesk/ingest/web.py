"""Article pages: main text and metadata with trafilatura, boilerplate left out.

trafilatura finds the article body of a whole page (it drops navigation, share
bars, related links and footers by page structure). What it keeps that is still
not article text, the by-lines news sites put inside the body (``责任编辑：``,
``来源：``, ``Share this``), is dropped here by :func:`strip_boilerplate`, which only
ever removes short paragraphs so that nothing of substance is lost.

The metadata a page declares about itself (``<meta>`` publish time with its hour,
``og:site_name``, ``<link rel=canonical>``) is read by the small stdlib extractor in
:mod:`newsdesk.ingest.html`, which also takes over the body when trafilatura
finds none (short pages, fragments).
"""

from __future__ import annotations

import functools
import re
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from newsdesk.errors import BackendUnavailable
from newsdesk.ingest.html import ExtractedHtml, extract_html
from newsdesk.ingest.normalize import RawRecord

# Paragraphs longer than this are content, whatever words they contain.
_BOILERPLATE_MAX = 60
_LABELLED = (
    "责任编辑|責任編輯|编辑|編輯|责编|记者|記者|作者|来源|來源|本文来源|文章来源|原标题|原標題"
    "|校对|审核|监制|出品|图片来源|图源|摄影|免责声明|声明|版权|版權|source|editor|editing by"
    "|reporting by|writing by|photo|image"
)
_STANDALONE = (
    "分享到|分享至|扫一扫|扫码|点击(?:查看|阅读|进入|下载)|关注我们|相关阅读|相关新闻|相關新聞"
    "|延伸阅读|推荐阅读|热门推荐|返回(?:首页|顶部|搜狐)|打印本页|纠错|share this|share on"
    "|tweet this|follow us|subscribe|sign up for|read more|related articles|related stories"
    "|recommended for you|advertisement|copyright|all rights reserved|click here|©"
)
_BOILERPLATE = re.compile(
    rf"^\s*(?:[\(（【\[]\s*(?:{_LABELLED})|(?:{_LABELLED})\s*[:：|｜]|(?:{_STANDALONE}))",
    re.IGNORECASE,
)
# A by-line that is only a date and a source ("2025年10月09日 17:10 来源：样例网").
_DATELINE = re.compile(
    r"^\s*(\d{4}\s*[-/.年]\s*\d{1,2}\s*[-/.月]\s*\d{1,2}\s*日?(?:\s*\d{1,2}[:：]\d{2}(?:[:：]\d{2})?)?)"
)

_SENTENCE_PUNCT = re.compile(r"[，。；！？,;!?]|\.\s")


def _squash(text: str) -> str:
    return "".join(text.split())


def strip_boilerplate(paragraphs: list[str], title: str = "") -> tuple[list[str], str]:
    """Drop by-lines and share bars; return the paragraphs and any dateline's time."""
    kept: list[str] = []
    dateline = ""
    for text in paragraphs:
        t = text.strip()
        if not t or t == title:
            continue
        if len(t) <= _BOILERPLATE_MAX:
            m = _DATELINE.match(t)
            # Only a date with at most a source after it; "2025年10月9日，商务部…" is content.
            if m and not _SENTENCE_PUNCT.search(t[m.end() :]):
                dateline = dateline or m.group(1)
                continue
            if _BOILERPLATE.match(t):
                continue
        kept.append(t)
    return kept, dateline


@functools.cache
def _load_trafilatura() -> Any:
    """trafilatura, imported on first use: a broken install of it (or of lxml's
    ``lxml_html_clean``, which it needs) stops reading pages, never search.

    Raises:
        BackendUnavailable: it cannot be imported; the message says what to install.
    """
    try:
        import trafilatura  # optional stage, imported lazily on purpose
    except Exception as exc:  # ImportError, or lxml's own errors while importing
        raise BackendUnavailable(
            "reading web pages needs trafilatura, which cannot be imported "
            f"({type(exc).__name__}: {exc}); reinstall newsdesk "
            "(pip install -r requirements/lock.txt) or pip install trafilatura lxml_html_clean",
            backend="trafilatura",
        ) from exc
    return trafilatura


def _trafilatura(markup: str, url: str) -> tuple[list[str], str, str, str]:
    """Body paragraphs, title, site name and date as trafilatura finds them.

    Raises:
        BackendUnavailable: trafilatura cannot be imported.
    """
    trafilatura = _load_trafilatura()
    try:
        result = trafilatura.bare_extraction(
            markup,
            url=url or None,
            with_metadata=True,
            include_comments=False,
            include_tables=True,
            include_images=False,
            include_links=False,
        )
    except (ValueError, TypeError, AttributeError, RecursionError):
        # trafilatura raises from deep in lxml on some broken markup; the stdlib
        # extractor below still reads such pages.
        return [], "", "", ""
    if result is None or isinstance(result, dict):
        return [], "", "", ""
    text = result.text or ""
    return (
        [line for line in text.split("\n") if line.strip()],
        result.title or "",
        result.sitename or "",
        result.date or "",
    )


def extract_page(markup: str, url: str = "") -> ExtractedHtml:
    """Title, main-text paragraphs and metadata of a whole HTML page."""
    meta = extract_html(markup)
    body, t_title, t_site, t_date = _trafilatura(markup, url)
    title = meta.title or t_title or meta.h1
    if body:
        # trafilatura falls back to whole-page text on small pages; keep only what also
        # lies outside <nav>, <header>, <footer>, <aside> and <form>, as the stdlib
        # extractor sees it.
        squashed = [_squash(p) for p in meta.paragraphs]
        blocks, outside = set(squashed), "".join(squashed)
        # Most lines are whole blocks (a set lookup); the rest, substrings of one.
        body = [line for line in body if (sq := _squash(line)) in blocks or sq in outside]
    paragraphs, dateline = strip_boilerplate(body or meta.paragraphs, title)
    if not paragraphs and body:
        # trafilatura's body was all boilerplate by our rules: trust the plain extractor.
        paragraphs, dateline = strip_boilerplate(meta.paragraphs, title)
    return ExtractedHtml(
        title=title,
        paragraphs=paragraphs,
        published=meta.published or dateline or t_date,
        canonical_url=meta.canonical_url,
        site_name=meta.site_name or t_site,
        lang=meta.lang,
        h1=meta.h1,
    )


def _host(url: str) -> str:
    host = urlsplit(url).hostname or ""
    return host.removeprefix("www.")


def page_record(
    origin: str, markup: str, url: str, fetched_at: datetime | None = None
) -> RawRecord:
    """A raw record for one page; ``url`` is where it was fetched (or the file's URI)."""
    page = extract_page(markup, url)
    canonical = page.canonical_url
    # A canonical link is only trusted when it is an absolute http(s) URL.
    if not canonical.lower().startswith(("http://", "https://")):
        canonical = ""
    fields: dict[str, object] = {
        "title": page.title or (page.paragraphs[0][:80] if page.paragraphs else ""),
        "paragraphs": page.paragraphs,
        "url": canonical or url,
    }
    source = page.site_name or (_host(url) if url.startswith("http") else "")
    if source:
        fields["source"] = source
    if page.published:
        fields["published_at"] = page.published
    if page.lang:
        fields["lang"] = page.lang.lower()[:2]
    return RawRecord(origin=origin, fields=fields, fetched_at=fetched_at)
