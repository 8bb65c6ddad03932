"""Validate one raw record and normalize it into a :class:`Document`."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, tzinfo
from typing import Any

from newsdesk.errors import ExtractionError
from newsdesk.ingest.dates import CHINA_TZ, DateParseError, parse_datetime
from newsdesk.ingest.html import extract_html
from newsdesk.models import Document, Paragraph
from newsdesk.text import clean, detect_language

__all__ = [
    "CHINA_TZ",
    "RawRecord",
    "build_document",
    "parse_published",
    "record_key",
    "superseded",
]
_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:@-]{0,127}$")
_BLANK_LINES = re.compile(r"\n\s*\n")
_HASH_STRIP = re.compile(r"[\W_]+", re.UNICODE)
# Code points no UTF-8 text may hold: lone surrogates (a JSON "\ud800" escape without
# its pair) and the noncharacters U+FFFE/U+FFFF. SQLite and every JSON encoder refuse them.
_INVALID = re.compile("[\ud800-\udfff\ufffe\uffff]")
MAX_PARAGRAPHS = 2000
MAX_TITLE = 500
KNOWN_FIELDS = frozenset(
    [
        "id",
        "url",
        "title",
        "source",
        "published_at",
        "lang",
        "category",
        "paragraphs",
        "text",
        "html",
    ]
)


@dataclass(frozen=True, slots=True)
class RawRecord:
    """One input item before validation; ``origin`` says where it came from (file:line).

    ``fetched_at`` is when the item was read (relative times such as ``3小时前`` count
    from it) and ``zone`` the source's own time zone for times written without one.
    """

    origin: str
    fields: Mapping[str, Any] = field(default_factory=dict)
    fetched_at: datetime | None = None
    zone: tzinfo | None = None


def _valid(value: Any) -> Any:
    """``value`` with invalid code points replaced by U+FFFD (strings and lists of them)."""
    if isinstance(value, str):
        return _INVALID.sub("\ufffd", value)
    if isinstance(value, list):
        return [_INVALID.sub("\ufffd", v) if isinstance(v, str) else v for v in value]
    return value


def valid_fields(fields: Mapping[str, Any]) -> dict[str, Any]:
    """The fields of a record with every string made valid Unicode, keys included."""
    return {_valid(k): _valid(v) for k, v in fields.items()}


def _str_field(fields: Mapping[str, Any], name: str) -> str:
    value = fields.get(name)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise ExtractionError(f"field {name!r} must be a string, got {type(value).__name__}")
    return value.strip()


def parse_published(
    value: str, lang: str, *, now: datetime | None = None, zone: tzinfo | None = None
) -> datetime:
    """Parse a publish time (ISO 8601, RFC 822, Chinese forms); always zone-aware.

    A time without a zone gets the source's zone: ``zone`` if given, else
    Asia/Shanghai (UTC+8, no daylight saving) for Chinese sources, else UTC.

    Raises:
        ExtractionError: the value is not a time in any form we read.
    """
    try:
        return parse_datetime(value, lang, now=now, zone=zone)
    except DateParseError as exc:
        raise ExtractionError(
            f"published_at is not a time we can read (ISO 8601, RFC 822 or a Chinese form): "
            f"{value[:60]!r}"
        ) from exc


def split_text(text: str) -> list[str]:
    """Split plain text into paragraphs on blank lines, else on single newlines."""
    text = text.replace("\r\n", "\n").replace("\r", "\n").strip()
    if not text:
        return []
    blocks = _BLANK_LINES.split(text) if _BLANK_LINES.search(text) else text.split("\n")
    return [" ".join(b.split()) for b in blocks if b.strip()]


def content_hash(title: str, paragraphs: list[str]) -> str:
    """Hash of the content with case, spacing and punctuation folded away."""
    folded = _HASH_STRIP.sub("", (title + "\n" + "\n".join(paragraphs)).lower())
    return hashlib.sha256(folded.encode("utf-8")).hexdigest()


def make_id(url: str, chash: str) -> str:
    if url:
        return "u" + hashlib.sha1(url.encode("utf-8")).hexdigest()[:16]
    return "h" + chash[:16]


def record_key(fields: Mapping[str, Any]) -> str:
    """The document id a record will get, when it can be known without reading its body.

    An explicit ``id``, else the id derived from its ``url``; '' for records whose id
    comes from their content (two such records with one id are the same content).
    """
    doc_id = fields.get("id")
    if isinstance(doc_id, str) and doc_id.strip():
        return doc_id.strip()
    url = fields.get("url")
    if isinstance(url, str) and url.strip():
        return make_id(url.strip(), "")
    return ""


def superseded(keys: Sequence[str]) -> dict[int, int]:
    """For records with these keys, in input order: which are superseded, by which.

    The last record with a key wins, so that one input naming a document twice
    stores it once, the same way on every run.
    """
    last: dict[str, int] = {}
    for i, key in enumerate(keys):
        if key:
            last[key] = i
    return {i: last[key] for i, key in enumerate(keys) if key and last[key] != i}


def build_document(record: RawRecord) -> Document:
    """Validate and normalize one raw record.

    Raises:
        ExtractionError: a required field is missing or malformed; the message says which.
    """
    # A lone surrogate in one field must cost that character, not the document (and
    # never its batch): it is replaced before anything reads the fields.
    f = valid_fields(record.fields)
    unknown = sorted(set(f) - KNOWN_FIELDS)
    if unknown:
        raise ExtractionError(f"unknown field(s): {', '.join(unknown)}", record.origin)

    raw_paragraphs: list[str]
    title = _str_field(f, "title")
    html_meta = None
    if f.get("paragraphs") is not None:
        paras = f["paragraphs"]
        if not isinstance(paras, list) or not all(isinstance(p, str) for p in paras):
            raise ExtractionError("field 'paragraphs' must be a list of strings", record.origin)
        raw_paragraphs = list(paras)
    elif f.get("text") is not None:
        raw_paragraphs = split_text(_str_field(f, "text"))
    elif f.get("html") is not None:
        html_meta = extract_html(_str_field(f, "html"))
        raw_paragraphs = html_meta.paragraphs
        # A page without a title keeps its text: its opening words stand in as the title.
        fallback = raw_paragraphs[0][:80] if raw_paragraphs else ""
        title = title or html_meta.title or fallback
    else:
        raise ExtractionError("no body: give 'paragraphs', 'text' or 'html'", record.origin)

    title = clean(title)
    if not title:
        raise ExtractionError("missing required field 'title'", record.origin)
    if len(title) > MAX_TITLE:
        title = title[:MAX_TITLE]
    paragraphs = [p for p in (clean(x) for x in raw_paragraphs) if p]
    if not paragraphs:
        raise ExtractionError("document has no text", record.origin)
    if len(paragraphs) > MAX_PARAGRAPHS:
        raise ExtractionError(f"more than {MAX_PARAGRAPHS} paragraphs", record.origin)

    lang = _str_field(f, "lang").lower() or (html_meta.lang.lower()[:2] if html_meta else "")
    if not lang or lang == "und":
        lang = detect_language(title + "\n" + "\n".join(paragraphs[:5]))
    if len(lang) > 16 or not lang.replace("-", "").isalpha():
        raise ExtractionError(f"lang must be a language code, got {lang!r}", record.origin)

    published = _str_field(f, "published_at") or (html_meta.published if html_meta else "")
    published_at = (
        parse_published(published, lang, now=record.fetched_at, zone=record.zone)
        if published
        else None
    )

    url = _str_field(f, "url") or (html_meta.canonical_url if html_meta else "")
    if url and not url.lower().startswith(("http://", "https://", "file://")):
        raise ExtractionError(f"url must be http(s) or file, got {url[:80]!r}", record.origin)

    chash = content_hash(title, paragraphs)
    doc_id = _str_field(f, "id")
    if doc_id and not _ID.match(doc_id):
        raise ExtractionError(
            "id must be 1-128 characters of letters, digits and ._:@- "
            f"starting with a letter or digit, got {doc_id[:80]!r}",
            record.origin,
        )
    doc_id = doc_id or make_id(url, chash)

    source = _str_field(f, "source") or (html_meta.site_name if html_meta else "")
    return Document(
        id=doc_id,
        title=title,
        paragraphs=tuple(Paragraph(n=i, text=t) for i, t in enumerate(paragraphs, start=1)),
        source=clean(source)[:200],
        url=url,
        published_at=published_at,
        lang=lang,
        category=clean(_str_field(f, "category"))[:100],
        content_hash=chash,
    )
