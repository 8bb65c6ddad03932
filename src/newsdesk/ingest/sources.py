"""Read raw records from files and folders (JSONL, text, Markdown, HTML)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

from newsdesk.ingest.normalize import RawRecord, split_text

JSONL_SUFFIXES = frozenset({".jsonl", ".ndjson"})
TEXT_SUFFIXES = frozenset({".txt", ".text"})
MARKDOWN_SUFFIXES = frozenset({".md", ".markdown"})
HTML_SUFFIXES = frozenset({".html", ".htm", ".xhtml"})
SUPPORTED = JSONL_SUFFIXES | TEXT_SUFFIXES | MARKDOWN_SUFFIXES | HTML_SUFFIXES
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
    if b"\x00" in data[:4096]:
        raise SourceProblem(origin, "binary file (contains NUL bytes)", "skipped")
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise SourceProblem(origin, "cannot decode text (not UTF-8 or GB18030)")


def _read(path: Path) -> str:
    size = path.stat().st_size
    if size > MAX_FILE_BYTES:
        raise SourceProblem(
            str(path), f"file too large ({size} bytes > {MAX_FILE_BYTES})", "skipped"
        )
    if size == 0:
        raise SourceProblem(str(path), "empty file", "skipped")
    return _decode(path.read_bytes(), str(path))


def _jsonl_records(path: Path, text: str) -> Iterator[RawRecord | SourceProblem]:
    for lineno, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        origin = f"{path}:{lineno}"
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            yield SourceProblem(origin, f"invalid JSON: {exc.msg} at column {exc.colno}")
            continue
        if not isinstance(obj, dict):
            yield SourceProblem(origin, "line is not a JSON object")
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
            text = _read(item)
        except SourceProblem as problem:
            yield problem
            continue
        except OSError as exc:
            yield SourceProblem(str(item), f"cannot read: {exc.strerror or exc}")
            continue
        if suffix in JSONL_SUFFIXES:
            yield from _jsonl_records(item, text)
        elif suffix in HTML_SUFFIXES:
            yield RawRecord(origin=str(item), fields={"html": text, "url": item.resolve().as_uri()})
        else:
            yield _text_record(item, text, markdown=suffix in MARKDOWN_SUFFIXES)
