"""Read raw records from files and folders (JSONL, text, Markdown, HTML, PDF)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

from newsdesk.errors import BackendUnavailable, ExtractionError, FetchError
from newsdesk.ingest.encoding import charset_from_content_type, decode_bytes, looks_binary
from newsdesk.ingest.feeds import looks_like_feed, parse_feed
from newsdesk.ingest.fetch import Fetcher
from newsdesk.ingest.normalize import RawRecord, record_key, split_text, superseded
from newsdesk.ingest.pdf import PdfProblem, pdf_record
from newsdesk.ingest.web import page_record

JSONL_SUFFIXES = frozenset({".jsonl", ".ndjson"})
TEXT_SUFFIXES = frozenset({".txt", ".text"})
MARKDOWN_SUFFIXES = frozenset({".md", ".markdown"})
HTML_SUFFIXES = frozenset({".html", ".htm", ".xhtml"})
PDF_SUFFIXES = frozenset({".pdf"})
SUPPORTED = JSONL_SUFFIXES | TEXT_SUFFIXES | MARKDOWN_SUFFIXES | HTML_SUFFIXES | PDF_SUFFIXES
MAX_FILE_BYTES = 64 * 1024 * 1024
_MD_MARKUP = re.compile(r"^\s{0,3}(?:#{1,6}\s+|[-*+]\s+|>\s?)|[*_`]{1,3}")


class SourceProblem(Exception):
    """A whole input (file) that cannot be read; carries the origin and the reason."""

    def __init__(self, origin: str, reason: str, outcome: str = "failed") -> None:
        super().__init__(reason)
        self.origin = origin
        self.reason = reason
        self.outcome = outcome


def _decode(data: bytes, origin: str) -> str:
    if looks_binary(data):
        raise SourceProblem(origin, "binary file (contains NUL bytes)", "skipped")
    return decode_bytes(data).text


def _read_bytes(path: Path) -> bytes:
    size = path.stat().st_size
    if size > MAX_FILE_BYTES:
        raise SourceProblem(
            str(path), f"file too large ({size} bytes > {MAX_FILE_BYTES})", "skipped"
        )
    if size == 0:
        raise SourceProblem(str(path), "empty file", "skipped")
    return path.read_bytes()


def _json_object(line: str) -> dict[str, object] | str:
    """The JSON object on ``line``, or why there is none."""
    try:
        obj = json.loads(line)
    except json.JSONDecodeError as exc:
        return f"invalid JSON: {exc.msg} at column {exc.colno}"
    except RecursionError:
        return "invalid JSON: nested too deeply"
    if not isinstance(obj, dict):
        return "line is not a JSON object"
    return obj


def _jsonl_records(path: Path, text: str) -> Iterator[RawRecord | SourceProblem]:
    lines = text.splitlines()
    # A first pass finds documents named twice: the last line wins, and the earlier
    # ones are reported as superseded rather than stored and then overwritten (which
    # flipped the stored version on every run).
    keys = []
    for line in lines:
        obj = _json_object(line) if line.strip() else ""
        keys.append(record_key(obj) if isinstance(obj, dict) else "")
    later = superseded(keys)
    for index, line in enumerate(lines):
        if not line.strip():
            continue
        origin = f"{path}:{index + 1}"
        if index in later:
            yield SourceProblem(
                origin, f"superseded by line {later[index] + 1} (same id)", "skipped"
            )
            continue
        obj = _json_object(line)
        if isinstance(obj, str):
            yield SourceProblem(origin, obj)
            continue
        yield RawRecord(origin=origin, fields=obj)


def _text_record(path: Path, text: str, markdown: bool) -> RawRecord:
    blocks = split_text(text)
    if markdown:
        blocks = [_MD_MARKUP.sub("", b).strip() for b in blocks]
        blocks = [b for b in blocks if b]
    title = blocks[0] if blocks else ""
    return RawRecord(
        origin=str(path),
        fields={"title": title, "paragraphs": blocks[1:], "url": path.resolve().as_uri()},
    )


def iter_files(paths: list[Path]) -> Iterator[Path | SourceProblem]:
    """Expand folders (recursively, sorted) into supported files."""
    for path in paths:
        if path.is_dir():
            for child in sorted(p for p in path.rglob("*") if p.is_file()):
                if child.suffix.lower() in SUPPORTED and not child.name.startswith("."):
                    yield child
        elif path.is_file():
            yield path
        else:
            yield SourceProblem(str(path), "no such file or folder")


def _file_records(item: Path) -> Iterator[RawRecord | SourceProblem]:
    suffix = item.suffix.lower()
    data = _read_bytes(item)
    if suffix in PDF_SUFFIXES:
        try:
            yield pdf_record(str(item), data, item.resolve().as_uri())
        except PdfProblem as problem:
            yield SourceProblem(str(item), problem.reason)
        return
    text = _decode(data, str(item))
    if suffix in JSONL_SUFFIXES:
        yield from _jsonl_records(item, text)
    elif suffix in HTML_SUFFIXES:
        yield page_record(str(item), text, item.resolve().as_uri())
    else:
        yield _text_record(item, text, markdown=suffix in MARKDOWN_SUFFIXES)


def iter_records(paths: list[Path]) -> Iterator[RawRecord | SourceProblem]:
    """Yield a raw record per document found, or a problem per unreadable input."""
    for item in iter_files(paths):
        if isinstance(item, SourceProblem):
            yield item
            continue
        suffix = item.suffix.lower()
        if suffix not in SUPPORTED:
            yield SourceProblem(str(item), f"unsupported file type {suffix or '(none)'}", "skipped")
            continue
        try:
            yield from _file_records(item)
        except SourceProblem as problem:
            yield problem
        except BackendUnavailable as exc:
            yield SourceProblem(str(item), str(exc))
        except OSError as exc:
            yield SourceProblem(str(item), f"cannot read: {exc.strerror or exc}")


def is_url(text: str) -> bool:
    """True for inputs that name a URL (``scheme://``) rather than a path."""
    head, sep, _ = text.partition("://")
    return bool(sep) and head.isalpha() and len(head) <= 10


def url_records(urls: list[str], fetcher: Fetcher) -> Iterator[RawRecord | SourceProblem]:
    """Fetch each URL: a page gives one record, a feed one record per item."""
    for url in urls:
        try:
            yield from _url_records(url, fetcher)
        except BackendUnavailable as exc:
            yield SourceProblem(url, str(exc))


def _url_records(url: str, fetcher: Fetcher) -> Iterator[RawRecord | SourceProblem]:
    """One URL's records (see :func:`url_records`)."""
    try:
        fetched = fetcher.get(url)
    except FetchError as exc:
        # The origin already names the URL; a redirect target is worth naming.
        reason = exc.reason if exc.url == url else str(exc)
        yield SourceProblem(url, reason)
        return
    if not fetched.body.strip():
        yield SourceProblem(url, "empty response", "skipped")
        return
    ctype = fetched.content_type.split(";")[0].strip().lower()
    if ctype == "application/pdf" or fetched.body.startswith(b"%PDF-"):
        try:
            yield pdf_record(url, fetched.body, fetched.url)
        except PdfProblem as problem:
            yield SourceProblem(url, problem.reason)
        return
    if looks_binary(fetched.body):
        yield SourceProblem(url, f"not text ({fetched.content_type or 'binary'})", "skipped")
        return
    if looks_like_feed(fetched.body, fetched.content_type):
        try:
            feed = parse_feed(fetched.body, fetched.url, fetched.content_type, fetched.fetched_at)
        except ExtractionError as exc:
            yield SourceProblem(url, str(exc))
            return
        yield from feed.items
        return
    text = decode_bytes(fetched.body, charset_from_content_type(fetched.content_type)).text
    if ctype == "text/plain":
        blocks = split_text(text)
        yield RawRecord(
            origin=url,
            fields={"title": blocks[0] if blocks else "", "paragraphs": blocks[1:], "url": url},
            fetched_at=fetched.fetched_at,
        )
        return
    yield page_record(url, text, fetched.url, fetched.fetched_at)
