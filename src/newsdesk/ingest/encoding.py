"""Bytes to text without mojibake: declared charset, then BOM/UTF-8, then detection.

Order of evidence, strongest first:

1. a byte-order mark (it cannot be there by accident);
2. the charset the transport declared (HTTP ``Content-Type``), then the one the
   document declares about itself (``<meta charset>``, ``<?xml encoding?>``), each
   used only if the bytes actually decode with it (a Latin-1 header, which servers
   send by default and which decodes anything, is used only as the last resort);
3. strict UTF-8 (most of the web, and any ASCII);
4. charset-normalizer's detection, which tells GB18030 from Big5 by which decoding
   reads as language rather than noise;
5. GB18030 with replacement characters as the last resort, since it accepts almost
   any byte sequence and is the likeliest legacy encoding of our sources.

GBK and GB2312 labels are widened to GB18030, their superset: pages labelled GB2312
routinely use characters only GBK/GB18030 define.
"""

from __future__ import annotations

import codecs
import re
from dataclasses import dataclass

import charset_normalizer

_META_CHARSET = re.compile(
    rb"""<meta[^>]+charset\s*=\s*["']?\s*([A-Za-z0-9._:-]+)""", re.IGNORECASE
)
_XML_ENCODING = re.compile(rb"""^\s*<\?xml[^>]*encoding\s*=\s*["']([A-Za-z0-9._:-]+)""")
_HEADER_CHARSET = re.compile(r"""charset\s*=\s*["']?([A-Za-z0-9._:-]+)""", re.IGNORECASE)
_WIDER = {
    "gb2312": "gb18030",
    "gbk": "gb18030",
    "x-gbk": "gb18030",
    "cp936": "gb18030",
    "euc-cn": "gb18030",
    "big5": "big5hkscs",
    "x-big5": "big5hkscs",
    # Browsers treat these Latin-1 labels as Windows-1252; so do we.
    "iso-8859-1": "cp1252",
    "latin-1": "cp1252",
    "latin1": "cp1252",
    "ascii": "utf-8",
    "us-ascii": "utf-8",
}
_WEAK_LABELS = frozenset(
    ["iso-8859-1", "iso8859-1", "latin-1", "latin1", "cp1252", "windows-1252", "us-ascii", "ascii"]
)
_BOMS = (
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)
# Detection is the slow step; the head of a document carries enough evidence.
_DETECT_BYTES = 64 * 1024


@dataclass(frozen=True, slots=True)
class Decoded:
    text: str
    encoding: str
    how: str  # "bom", "header", "meta", "utf-8", "detected" or "fallback"


def _canonical(label: str) -> str | None:
    name = label.strip().strip("\"'").lower()
    name = _WIDER.get(name, name)
    try:
        return codecs.lookup(name).name
    except LookupError:
        return None


def charset_from_content_type(content_type: str) -> str | None:
    """The charset parameter of an HTTP ``Content-Type`` header, if any."""
    match = _HEADER_CHARSET.search(content_type or "")
    return match.group(1) if match else None


def declared_charset(data: bytes) -> str | None:
    """The encoding a document declares in its first bytes (meta tag or XML prolog)."""
    head = data[:4096]
    match = _XML_ENCODING.search(head) or _META_CHARSET.search(head)
    return match.group(1).decode("ascii", "ignore") if match else None


def _try(data: bytes, label: str | None) -> tuple[str, str] | None:
    if not label:
        return None
    name = _canonical(label)
    if name is None or name.startswith("utf-16") or name.startswith("utf-32"):
        # A declared UTF-16 on bytes without a BOM is almost always a wrong label.
        return None
    try:
        return data.decode(name), name
    except (UnicodeDecodeError, LookupError):
        return None


def decode_bytes(data: bytes, header_charset: str | None = None) -> Decoded:
    """Decode ``data`` to text using the strongest evidence available (see module doc)."""
    for bom, name in _BOMS:
        if data.startswith(bom):
            try:
                return Decoded(data.decode(name), name, "bom")
            except UnicodeDecodeError:
                break
    # Servers often send a Latin-1 default for pages that are nothing of the kind, and
    # Latin-1 decodes any bytes at all: such a label only counts if nothing else does.
    weak_header = (header_charset or "").strip().strip("\"'").lower() in _WEAK_LABELS
    strong_header = None if weak_header else header_charset
    for label, how in ((strong_header, "header"), (declared_charset(data), "meta")):
        found = _try(data, label)
        if found is not None:
            return Decoded(found[0], found[1], how)
    try:
        return Decoded(data.decode("utf-8"), "utf-8", "utf-8")
    except UnicodeDecodeError:
        pass
    best = charset_normalizer.from_bytes(data[:_DETECT_BYTES]).best()
    if best is not None:
        found = _try(data, best.encoding)
        if found is not None:
            return Decoded(found[0], found[1], "detected")
    if weak_header:
        found = _try(data, header_charset)
        if found is not None:
            return Decoded(found[0], found[1], "header")
    return Decoded(data.decode("gb18030", errors="replace"), "gb18030", "fallback")


def looks_binary(data: bytes) -> bool:
    """True for data that is not text in any encoding we read (NUL bytes in its head)."""
    head = data[:4096]
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return False
    return b"\x00" in head
