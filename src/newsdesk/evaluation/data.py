"""Readers for the evaluation data in ``../shared/data`` (never copied into the repo).

Each reader yields plain records and reads lazily, so a run over a sample stops
reading as soon as it has enough.
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from newsdesk.errors import InputError
from newsdesk.models import Document, Paragraph
from newsdesk.text import clean, detect_language


def default_data_dir() -> Path:
    """``../shared/data`` beside the working directory (the repository root)."""
    return Path.cwd().resolve().parent / "shared" / "data"


def resolve_data_dir(path: Path | None) -> Path:
    """The data folder to read, or an :class:`InputError` naming what is missing."""
    folder = path or default_data_dir()
    if not folder.is_dir():
        raise InputError(f"evaluation data folder not found: {folder} (pass --data DIR)")
    return folder


def _open(path: Path) -> TextIO:
    if not path.is_file():
        raise InputError(f"evaluation file not found: {path}")
    if path.suffix == ".gz":
        return gzip.open(path, "rt", encoding="utf-8")
    return path.open(encoding="utf-8")


def read_jsonl(path: Path) -> Iterator[dict[str, Any]]:
    with _open(path) as fh:
        for line in fh:
            if line.strip():
                row = json.loads(line)
                if isinstance(row, dict):
                    yield row


def make_document(doc_id: str, title: str, paragraphs: list[str], lang: str = "") -> Document:
    """A document as ingest would build it: cleaned, non-empty, numbered paragraphs."""
    texts = [t for t in (clean(p) for p in paragraphs) if t]
    language = lang or detect_language(" ".join([title, *texts]))
    return Document(
        id=doc_id,
        title=clean(title),
        paragraphs=tuple(Paragraph(i, t) for i, t in enumerate(texts, start=1)),
        lang=language,
        content_hash=doc_id,
    )


def cctv_documents(data: Path) -> Iterator[Document]:
    for row in read_jsonl(data / "cctv_xwlb" / "xwlb_stories.jsonl.gz"):
        paragraphs = [str(p) for p in row.get("paragraphs") or []]
        if paragraphs:
            yield make_document(str(row["id"]), str(row.get("title") or ""), paragraphs, "zh")


def rss_documents(data: Path, min_paragraphs: int = 2) -> Iterator[Document]:
    """Full articles from the RSS set (items with at least ``min_paragraphs`` paragraphs)."""
    for i, row in enumerate(read_jsonl(data / "fin_rss_multisource" / "articles.jsonl.gz")):
        paragraphs = [str(p) for p in row.get("paragraphs") or []]
        if len(paragraphs) >= min_paragraphs:
            lang = str(row.get("lang") or "")
            yield make_document(f"rss-{i}", str(row.get("title") or ""), paragraphs, lang)


def rss_documents_by_index(data: Path, indexes: set[int]) -> dict[int, Document]:
    """RSS items by their line number in the file (ids ``rss-<n>``, as in :func:`rss_documents`)."""
    out: dict[int, Document] = {}
    for i, row in enumerate(read_jsonl(data / "fin_rss_multisource" / "articles.jsonl.gz")):
        if i in indexes:
            paragraphs = [str(p) for p in row.get("paragraphs") or []]
            lang = str(row.get("lang") or "")
            out[i] = make_document(f"rss-{i}", str(row.get("title") or ""), paragraphs, lang)
            if len(out) == len(indexes):
                break
    return out


def reuters_documents(data: Path) -> Iterator[Document]:
    """Reuters-21578 stories with a body, ids ``reuters-<newid>``, in file order."""
    for row in read_jsonl(data / "reuters21578" / "reuters21578.jsonl.gz"):
        paragraphs = [str(p) for p in row.get("paragraphs") or []]
        if paragraphs:
            title = str(row.get("title") or "")
            yield make_document(f"reuters-{row['newid']}", title, paragraphs, "en")


def finqa_documents(data: Path) -> Iterator[Document]:
    for row in read_jsonl(data / "bbt_fincuge" / "finqa_documents.jsonl.gz"):
        paragraphs = [str(p) for p in row.get("paragraphs") or []]
        if paragraphs:
            title = str(row.get("title_guess") or "")
            yield make_document(str(row["doc_id"]), title, paragraphs, "zh")


@dataclass(frozen=True, slots=True)
class SummaryPair:
    """A source text with its human reference summary."""

    id: str
    text: str
    reference: str


def finna_pairs(data: Path) -> Iterator[SummaryPair]:
    for row in read_jsonl(data / "bbt_fincuge" / "finna_test.jsonl.gz"):
        text, ref = str(row.get("text") or "").strip(), str(row.get("summary") or "").strip()
        if text and ref:
            yield SummaryPair(str(row["id"]), text, ref)


def lcsts_pairs(data: Path, min_label: int = 3) -> Iterator[SummaryPair]:
    for row in read_jsonl(data / "lcsts_part3" / "lcsts_part3.jsonl"):
        if int(row.get("human_label") or 0) < min_label:
            continue
        text, ref = str(row.get("short_text") or "").strip(), str(row.get("summary") or "").strip()
        if text and ref:
            yield SummaryPair(f"lcsts-{row['id']}", text, ref)


def cfbenchmark_pairs(data: Path) -> Iterator[SummaryPair]:
    for row in read_jsonl(data / "cfbenchmark" / "summary.jsonl.gz"):
        text, ref = str(row.get("input") or "").strip(), str(row.get("response") or "").strip()
        if text and ref:
            # The reference lists its key points separated by "｜".
            yield SummaryPair(str(row["id"]), text, ref.replace("｜", "。"))


@dataclass(frozen=True, slots=True)
class TranslationPair:
    id: str
    zh: str
    en: str


def wmt_pairs(data: Path) -> Iterator[TranslationPair]:
    for row in read_jsonl(data / "wmt21_zhen_news" / "newstest2021_zhen_segments.jsonl"):
        zh, en = str(row.get("zh") or "").strip(), str(row.get("en") or "").strip()
        if zh and en:
            yield TranslationPair(f"wmt-{row['line']}", zh, en)
