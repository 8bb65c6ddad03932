"""Feeds: RSS 0.9x/1.0/2.0 and Atom (feedparser), JSON Feed (plain JSON), to raw records.

An item becomes one raw record with what it carries. Full HTML (``content:encoded``,
Atom ``content``, JSON Feed ``content_html``) is preferred; an item with only a
summary is kept with its summary, and one with only a headline is kept with the
headline as its single paragraph, so a feed never silently loses an item. Markup is
read by the stdlib extractor, which keeps text nodes only (no script, no handlers).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from newsdesk.errors import BackendUnavailable, ExtractionError
from newsdesk.ingest.dates import DateParseError, parse_datetime
from newsdesk.ingest.encoding import decode_bytes
from newsdesk.ingest.html import extract_html
from newsdesk.ingest.normalize import RawRecord, split_text
from newsdesk.text import clean

MAX_ITEMS = 5000
_FEED_TYPES = ("rss", "atom", "rdf", "xml", "feed+json")
_XML_ROOTS = (b"<rss", b"<feed", b"<rdf:rdf", b"<channel")


@dataclass(frozen=True, slots=True)
class ParsedFeed:
    """A feed's title, its format (``rss20``, ``atom10``, ``json1`` ...) and its items."""

    title: str
    kind: str
    items: list[RawRecord] = field(default_factory=list)


def looks_like_feed(data: bytes, content_type: str = "") -> bool:
    """True when a response is a feed rather than a page (by header, else by content)."""
    ctype = content_type.split(";")[0].strip().lower()
    if any(t in ctype for t in _FEED_TYPES) and "html" not in ctype:
        return True
    head = data[:2048].lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    if head.startswith(b"{"):
        return b"jsonfeed.org" in head
    if head.startswith(b"<?xml"):
        end = head.find(b"?>")
        head = head[end + 2 :].lstrip() if end >= 0 else head
        while head.startswith((b"<!--", b"<?")):
            end = head.find(b">")
            head = head[end + 1 :].lstrip() if end >= 0 else b""
    return head.startswith(_XML_ROOTS)


def _body_paragraphs(markup: str, is_html: bool) -> list[str]:
    if not markup.strip():
        return []
    if is_html:
        return extract_html(markup).paragraphs
    return split_text(markup)


def _record(
    origin: str,
    title: str,
    link: str,
    paragraphs: list[str],
    published: str,
    source: str,
    category: str,
    fetched_at: datetime | None,
    fallback_time: str = "",
) -> RawRecord:
    title = clean(title)
    if published:
        try:
            parse_datetime(published, now=fetched_at)
        except DateParseError:
            # An item with a date we cannot read keeps its text: feedparser's own
            # reading (UTC) if it has one, else no date at all.
            published = fallback_time
    if not paragraphs and title:
        paragraphs = [title]
    if not title and paragraphs:
        title = paragraphs[0][:80]
    fields: dict[str, Any] = {"title": title, "paragraphs": paragraphs}
    if link.lower().startswith(("http://", "https://")):
        fields["url"] = link
    if published:
        fields["published_at"] = published
    if source:
        fields["source"] = source
    if category:
        fields["category"] = category
    return RawRecord(origin=origin, fields=fields, fetched_at=fetched_at)


def _struct_time(value: Any) -> str:
    if not value:
        return ""
    try:
        y, mo, d, h, mi, sec = (int(v) for v in value[:6])
        return datetime(y, mo, d, h, mi, sec, tzinfo=UTC).isoformat()
    except (TypeError, ValueError):
        return ""


def _entry_body(entry: Mapping[str, Any]) -> list[str]:
    for content in entry.get("content") or []:
        value = str(content.get("value") or "")
        paragraphs = _body_paragraphs(value, "html" in str(content.get("type", "html")))
        if paragraphs:
            return paragraphs
    detail = entry.get("summary_detail") or {}
    return _body_paragraphs(
        str(entry.get("summary") or ""), "html" in str(detail.get("type", "html"))
    )


def _parse_xml(data: bytes, url: str, content_type: str, fetched_at: datetime | None) -> ParsedFeed:
    headers = {"content-location": url} if url else {}
    if content_type:
        headers["content-type"] = content_type
    try:
        import feedparser  # optional stage, imported lazily: a broken one must not stop search
    except Exception as exc:
        raise BackendUnavailable(
            f"reading RSS/Atom feeds needs feedparser, which cannot be imported "
            f"({type(exc).__name__}: {exc}); pip install feedparser",
            backend="feedparser",
        ) from exc
    parsed = feedparser.parse(data, response_headers=headers, sanitize_html=True)
    entries = parsed.get("entries") or []
    if not entries and (parsed.get("bozo") or not parsed.get("version")):
        # Broken XML that still yields items is kept (nothing valid is lost); broken
        # XML with none is an error, not a quiet "0 new items".
        problem = parsed.get("bozo_exception")
        detail = f" (invalid XML: {problem})" if problem else ""
        raise ExtractionError(f"not a feed: no RSS, Atom or JSON Feed items{detail}", url)
    feed = parsed.get("feed") or {}
    feed_title = clean(str(feed.get("title") or ""))
    items = []
    for i, entry in enumerate(entries[:MAX_ITEMS], start=1):
        tags = entry.get("tags") or []
        items.append(
            _record(
                origin=f"{url}#item{i}",
                title=str(entry.get("title") or ""),
                link=str(entry.get("link") or ""),
                paragraphs=_entry_body(entry),
                published=str(entry.get("published") or entry.get("updated") or ""),
                source=feed_title,
                category=str(tags[0].get("term") or "") if tags else "",
                fetched_at=fetched_at,
                fallback_time=_struct_time(
                    entry.get("published_parsed") or entry.get("updated_parsed")
                ),
            )
        )
    return ParsedFeed(title=feed_title, kind=str(parsed.get("version") or "rss"), items=items)


def _parse_json(data: bytes, url: str, fetched_at: datetime | None) -> ParsedFeed:
    try:
        doc = json.loads(decode_bytes(data).text)
    except (json.JSONDecodeError, RecursionError) as exc:
        raise ExtractionError(f"invalid JSON feed: {exc}", url) from exc
    if not isinstance(doc, dict) or not isinstance(doc.get("items"), list):
        raise ExtractionError("JSON feed has no 'items' list", url)
    feed_title = clean(str(doc.get("title") or ""))
    version = str(doc.get("version") or "")
    items = []
    for i, item in enumerate(doc["items"][:MAX_ITEMS], start=1):
        if not isinstance(item, dict):
            continue
        html = str(item.get("content_html") or "")
        text = str(item.get("content_text") or "")
        summary = str(item.get("summary") or "")
        paragraphs = (
            _body_paragraphs(html, True)
            or _body_paragraphs(text, False)
            or _body_paragraphs(summary, False)
        )
        tags = item.get("tags")
        items.append(
            _record(
                origin=f"{url}#item{i}",
                title=str(item.get("title") or ""),
                link=str(item.get("url") or item.get("external_url") or ""),
                paragraphs=paragraphs,
                published=str(item.get("date_published") or item.get("date_modified") or ""),
                source=feed_title,
                category=str(tags[0]) if isinstance(tags, list) and tags else "",
                fetched_at=fetched_at,
            )
        )
    kind = "json1.1" if version.endswith("1.1") else "json1"
    return ParsedFeed(title=feed_title, kind=kind, items=items)


def parse_feed(
    data: bytes, url: str = "", content_type: str = "", fetched_at: datetime | None = None
) -> ParsedFeed:
    """Parse feed bytes (any of the supported formats) into raw records.

    Raises:
        ExtractionError: the bytes are not a feed (HTML page, invalid XML with no items,
            JSON without items); the message says which.
    """
    if not data.strip():
        raise ExtractionError("empty feed", url)
    head = data[:64].lstrip(b"\xef\xbb\xbf \t\r\n")
    if head.startswith(b"{") or "json" in content_type.lower():
        return _parse_json(data, url, fetched_at)
    return _parse_xml(data, url, content_type, fetched_at)
