"""Minimal, dependency-free HTML to title + paragraphs extraction.

Hostile markup is dropped, never executed or kept: script, style and other
non-content elements are skipped entirely and only text nodes survive.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from html.parser import HTMLParser

_SKIP = frozenset(
    [
        "script",
        "style",
        "noscript",
        "template",
        "iframe",
        "object",
        "embed",
        "svg",
        "canvas",
        "nav",
        "footer",
        "header",
        "aside",
        "form",
        "button",
        "select",
        "textarea",
        "menu",
    ]
)
_BLOCK = frozenset(
    [
        "p",
        "div",
        "li",
        "h1",
        "h2",
        "h3",
        "h4",
        "h5",
        "h6",
        "blockquote",
        "pre",
        "section",
        "article",
        "br",
        "tr",
        "td",
        "th",
        "dd",
        "dt",
        "figcaption",
        "table",
        "ul",
        "ol",
        "main",
    ]
)
_VOID = frozenset(
    [
        "br",
        "img",
        "hr",
        "meta",
        "link",
        "input",
        "area",
        "base",
        "col",
        "embed",
        "source",
        "track",
        "wbr",
    ]
)


# Meta names that carry the publish time, in the forms news sites (Chinese ones too) use.
_PUBLISHED_META = frozenset(
    [
        "article:published_time",
        "og:published_time",
        "og:release_date",
        "pubdate",
        "publishdate",
        "publish_date",
        "publishtime",
        "publish_time",
        "datepublished",
        "dc.date.issued",
        "dc.date",
        "date",
        "sailthru.date",
        "parsely-pub-date",
        "apub:time",
    ]
)


@dataclass
class ExtractedHtml:
    title: str = ""
    paragraphs: list[str] = field(default_factory=list)
    published: str = ""
    canonical_url: str = ""
    site_name: str = ""
    lang: str = ""
    h1: str = ""


class _Extractor(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.out = ExtractedHtml()
        self._skip_depth = 0
        self._in_title = False
        self._h1: list[str] = []
        self._in_h1 = False
        self._buf: list[str] = []
        self._title: list[str] = []

    def _flush(self) -> None:
        text = " ".join("".join(self._buf).split())
        if text:
            self.out.paragraphs.append(text)
        self._buf = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k.lower(): (v or "") for k, v in attrs}
        if tag == "html" and a.get("lang"):
            self.out.lang = a["lang"]
        if tag == "meta":
            key = (a.get("property") or a.get("name") or a.get("itemprop") or "").lower()
            content = a.get("content", "").strip()
            if key in _PUBLISHED_META:
                self.out.published = self.out.published or content
            elif key == "og:site_name":
                self.out.site_name = content
            elif key == "og:title" and not self.out.title:
                self.out.title = content
            return
        if tag == "link" and a.get("rel", "").lower() == "canonical":
            self.out.canonical_url = a.get("href", "")
            return
        if tag in _VOID:
            if tag == "br":
                self._flush()
            return
        if tag in _SKIP:
            self._skip_depth += 1
            return
        if tag == "title":
            self._in_title = True
        if tag == "h1":
            self._in_h1 = True
        if tag in _BLOCK:
            self._flush()

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIP:
            self._skip_depth = max(0, self._skip_depth - 1)
            return
        if tag == "title":
            self._in_title = False
        if tag == "h1":
            self._in_h1 = False
        if tag in _BLOCK:
            self._flush()

    def handle_data(self, data: str) -> None:
        if self._skip_depth:
            return
        if self._in_title:
            self._title.append(data)
            return
        if self._in_h1:
            self._h1.append(data)
        self._buf.append(data)

    def result(self) -> ExtractedHtml:
        self._flush()
        page_title = " ".join("".join(self._title).split())
        h1 = " ".join("".join(self._h1).split())
        self.out.h1 = h1
        self.out.title = self.out.title or h1 or page_title
        if self.out.paragraphs and self.out.paragraphs[0] == self.out.title:
            self.out.paragraphs.pop(0)
        return self.out


def extract_html(markup: str) -> ExtractedHtml:
    """Extract title, paragraphs and a few metadata fields from an HTML string."""
    parser = _Extractor()
    parser.feed(markup)
    parser.close()
    return parser.result()
