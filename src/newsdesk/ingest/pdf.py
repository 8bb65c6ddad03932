"""PDF files: the text layer (pypdf), rejoined from lines into paragraphs.

A PDF stores lines, not paragraphs. A paragraph ends at a blank line, or after a
line visibly shorter than the page's full lines. Lines of
Chinese text are joined without a space, English ones with one (and a word split
by a hyphen at the line end is rejoined). Scanned PDFs have no text layer and are
reported as such; OCR is out of scope.
"""

from __future__ import annotations

import io
import logging
import re

from newsdesk.errors import BackendUnavailable
from newsdesk.ingest.normalize import RawRecord

MAX_PAGES = 1000
_CONTINUES = tuple(",，、;；-–")
_CJK_END = re.compile(r"[\u3400-\u9fff\uf900-\ufaff，、。；：（）“”]$")
_CJK_START = re.compile(r"^[\u3400-\u9fff\uf900-\ufaff，、。；：（）“”]")


class PdfProblem(Exception):
    """A PDF that yields no text; ``reason`` says why."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _join(a: str, b: str) -> str:
    if a.endswith("-") and b[:1].islower():
        return a[:-1] + b
    if _CJK_END.search(a) or _CJK_START.search(b):
        return a + b
    return f"{a} {b}"


def page_paragraphs(text: str) -> list[str]:
    """Rebuild the paragraphs of one page from its text-layer lines."""
    lines = [" ".join(line.split()) for line in text.replace("\r", "\n").split("\n")]
    full = max((len(line) for line in lines), default=0)
    paragraphs: list[str] = []
    current = ""
    for line in lines:
        if not line:
            if current:
                paragraphs.append(current)
            current = ""
            continue
        current = _join(current, line) if current else line
        # A line well short of the page's full lines ends its paragraph (or is a
        # heading), unless it visibly continues (a comma or hyphen at its end).
        if len(line) < 0.8 * full and not line.endswith(_CONTINUES):
            paragraphs.append(current)
            current = ""
    if current:
        paragraphs.append(current)
    return paragraphs


def pdf_record(origin: str, data: bytes, url: str) -> RawRecord:
    """A raw record from the bytes of a PDF file.

    Raises:
        PdfProblem: the file is not a readable PDF, is encrypted or has no text layer.
        BackendUnavailable: pypdf cannot be imported.
    """
    try:
        import pypdf  # optional stage, imported lazily: a broken pypdf must not stop search
    except Exception as exc:
        raise BackendUnavailable(
            f"reading PDF needs pypdf, which cannot be imported ({type(exc).__name__}: {exc});"
            " pip install pypdf",
            backend="pypdf",
        ) from exc
    # pypdf logs every recoverable oddity of a damaged file; the outcome says enough.
    logging.getLogger("pypdf").setLevel(logging.ERROR)
    try:
        reader = pypdf.PdfReader(io.BytesIO(data), strict=False)
        if reader.is_encrypted:
            raise PdfProblem("encrypted PDF")
        if len(reader.pages) > MAX_PAGES:
            raise PdfProblem(f"PDF has more than {MAX_PAGES} pages")
        paragraphs: list[str] = []
        for page in reader.pages:
            paragraphs.extend(page_paragraphs(page.extract_text() or ""))
        meta = reader.metadata
        title = str(meta.title or "").strip() if meta is not None else ""
    except PdfProblem:
        raise
    except (
        pypdf.errors.PyPdfError,
        ValueError,
        TypeError,
        KeyError,
        IndexError,
        RecursionError,
    ) as exc:
        raise PdfProblem(f"unreadable PDF: {type(exc).__name__}: {str(exc)[:120]}") from exc
    if not paragraphs:
        raise PdfProblem("PDF has no text layer (scanned?)")
    if not title or len(title) > 300:
        first = paragraphs.pop(0) if len(paragraphs) > 1 else paragraphs[0]
        title = first[:200]
    return RawRecord(origin=origin, fields={"title": title, "paragraphs": paragraphs, "url": url})
