"""Ingest: JSONL fields and bad lines, files and folders, re-ingest, duplicates."""

from __future__ import annotations

from pathlib import Path

from conftest import write_jsonl
from newsdesk import Engine
from newsdesk.ingest.normalize import RawRecord, build_document

GOOD = {
    "id": "doc-1",
    "url": "https://example.com/a",
    "title": "稀土出口管制升级",
    "source": "测试日报",
    "published_at": "2025-10-09T17:10:00+08:00",
    "lang": "zh",
    "category": "policy",
    "paragraphs": ["商务部9日发布公告，对五种稀土实施出口管制。", "公告自2025年11月8日起施行。"],
}


def test_jsonl_good_and_bad_lines_reported_with_line_numbers(
    engine: Engine, tmp_path: Path
) -> None:
    path = write_jsonl(
        tmp_path / "in.jsonl",
        [
            GOOD,
            "{not json",
            {"title": "no body"},
            {"paragraphs": ["a body without a title"]},
            {"title": "bad id", "id": "has space", "text": "x"},
            {"title": "bad date", "published_at": "yesterday-ish", "text": "body"},
            {"title": "bad paragraphs", "paragraphs": "not a list"},
            {"title": "unknown field", "text": "body", "colour": "red"},
            "[1, 2]",
            {
                **GOOD,
                "id": "doc-2",
                "url": "https://example.com/b",
                "title": "Second",
                "text": None,
                "paragraphs": ["Plain English text about rare earth export controls."],
            },
        ],
    )
    report = engine.ingest_paths([path])
    assert report.counts["accepted"] == 2
    assert report.counts["failed"] == 8
    failed = {r.origin.rsplit(":", 1)[1]: r.reason for r in report.results if r.outcome == "failed"}
    assert sorted(failed, key=int) == ["2", "3", "4", "5", "6", "7", "8", "9"]
    assert "invalid JSON" in failed["2"]
    assert "no body" in failed["3"]
    assert "title" in failed["4"]
    assert "id must be" in failed["5"]
    assert "ISO 8601" in failed["6"]
    assert "list of strings" in failed["7"]
    assert "colour" in failed["8"]
    assert "not a JSON object" in failed["9"]
    assert engine.status()["documents"] == 2
    assert engine.status()["indexed"] == 2


def test_fields_are_stored_and_paragraphs_numbered_from_one(engine: Engine, tmp_path: Path) -> None:
    engine.ingest_paths([write_jsonl(tmp_path / "a.jsonl", [GOOD])])
    doc = engine.document("doc-1")
    assert doc.title == GOOD["title"]
    assert doc.source == "测试日报"
    assert doc.url == "https://example.com/a"
    assert doc.lang == "zh" and doc.category == "policy"
    assert doc.published_at is not None
    assert doc.published_at.isoformat() == "2025-10-09T17:10:00+08:00"
    assert [p.n for p in doc.paragraphs] == [1, 2]
    assert doc.paragraphs[0].text == GOOD["paragraphs"][0]


def test_reingest_changes_nothing_and_edits_update(engine: Engine, tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "a.jsonl", [GOOD])
    assert engine.ingest_paths([path]).counts["accepted"] == 1
    again = engine.ingest_paths([path])
    assert again.counts["unchanged"] == 1 and again.indexed == 0
    edited = {**GOOD, "paragraphs": [*GOOD["paragraphs"], "新增一段：业内预计价格将上涨12%。"]}
    report = engine.ingest_paths([write_jsonl(tmp_path / "b.jsonl", [edited])])
    assert report.counts["updated"] == 1
    assert len(engine.document("doc-1").paragraphs) == 3
    status = engine.status()
    assert status["documents"] == 1 and status["indexed"] == 1 and status["summarized"] == 1
    assert [h.document.id for h in engine.search("价格").hits] == ["doc-1"]


def test_exact_copy_under_another_id_is_a_duplicate(engine: Engine, tmp_path: Path) -> None:
    copy = {**GOOD, "id": "copy-1", "url": "https://example.org/copy", "source": "Other"}
    same_url = {**GOOD, "id": "copy-2", "title": "Different title", "paragraphs": ["Other text."]}
    report = engine.ingest_paths([write_jsonl(tmp_path / "a.jsonl", [GOOD, copy, same_url])])
    dups = [r for r in report.results if r.outcome == "duplicate"]
    assert [(r.doc_id, r.duplicate_of) for r in dups] == [("copy-1", "doc-1"), ("copy-2", "doc-1")]
    assert engine.status()["documents"] == 1


def test_text_markdown_html_files_and_folders(engine: Engine, tmp_path: Path) -> None:
    folder = tmp_path / "inbox"
    (folder / "sub").mkdir(parents=True)
    (folder / "note.txt").write_text(
        "Chip export rules tightened\n\nThe rules cover 3nm tools.\n\nThey start in May.",
        encoding="utf-8",
    )
    (folder / "sub" / "post.md").write_text(
        "# 央行下调LPR\n\n一年期LPR下调10个基点至2.90%。\n\n- 五年期以上LPR为3.40%。",
        encoding="utf-8",
    )
    (folder / "page.html").write_text(
        "<html><head><title>Ignored page title</title>"
        '<meta property="article:published_time" content="2025-08-01T09:00:00+00:00">'
        "<script>document.write('evil')</script></head><body><nav>Home | About</nav>"
        "<h1>Battery makers expand in Hungary</h1><p>The plant will cost €7.3 billion.</p>"
        '<p onclick="alert(1)">Output starts in 2026.</p><footer>Share this</footer></body></html>',
        encoding="utf-8",
    )
    (folder / "image.png").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00")
    (folder / ".hidden.txt").write_text("hidden", encoding="utf-8")
    report = engine.ingest_paths([folder])
    assert report.counts["accepted"] == 3, report.results
    by_title = {
        engine.document(r.doc_id).title: engine.document(r.doc_id)
        for r in report.results
        if r.outcome == "accepted"
    }
    assert set(by_title) == {
        "Chip export rules tightened",
        "央行下调LPR",
        "Battery makers expand in Hungary",
    }
    md = by_title["央行下调LPR"]
    assert [p.text for p in md.paragraphs] == [
        "一年期LPR下调10个基点至2.90%。",
        "五年期以上LPR为3.40%。",
    ]
    assert md.lang == "zh"
    page = by_title["Battery makers expand in Hungary"]
    assert [p.text for p in page.paragraphs] == [
        "The plant will cost €7.3 billion.",
        "Output starts in 2026.",
    ]
    assert page.published_at is not None and page.published_at.year == 2025
    assert page.url.startswith("file://")
    # Re-ingesting the folder finds the same ids: file documents are keyed by path.
    assert engine.ingest_paths([folder]).counts["unchanged"] == 3


def test_gbk_file_is_decoded(engine: Engine, tmp_path: Path) -> None:
    path = tmp_path / "gbk.txt"
    path.write_bytes("人民币汇率保持稳定\n\n外汇储备规模为3.3万亿美元。".encode("gbk"))
    report = engine.ingest_paths([path])
    assert report.counts["accepted"] == 1
    doc = engine.document(report.results[0].doc_id)
    assert doc.title == "人民币汇率保持稳定"
    assert doc.paragraphs[0].text == "外汇储备规模为3.3万亿美元。"


def test_bad_inputs_get_outcomes_not_tracebacks(engine: Engine, tmp_path: Path) -> None:
    (tmp_path / "empty.jsonl").write_bytes(b"")
    (tmp_path / "binary.txt").write_bytes(b"\x00\x01\x02binary junk\xff\xfe")
    (tmp_path / "title-only.txt").write_text("Just a title", encoding="utf-8")
    (tmp_path / "truncated.html").write_text("<html><body><p>Cut off mid-tag <b", encoding="utf-8")
    (tmp_path / "data.csv").write_text("a,b\n1,2\n", encoding="utf-8")
    report = engine.ingest_paths(
        [
            tmp_path / "empty.jsonl",
            tmp_path / "binary.txt",
            tmp_path / "title-only.txt",
            tmp_path / "truncated.html",
            tmp_path / "data.csv",
            tmp_path / "missing.jsonl",
        ]
    )
    outcomes = {Path(r.origin).name: (r.outcome, r.reason) for r in report.results}
    assert outcomes["empty.jsonl"] == ("skipped", "empty file")
    assert outcomes["binary.txt"][0] == "skipped"
    assert outcomes["title-only.txt"] == ("failed", "document has no text")
    assert outcomes["truncated.html"][0] == "accepted"
    assert outcomes["data.csv"][0] == "skipped"
    assert outcomes["missing.jsonl"] == ("failed", "no such file or folder")


def test_bare_date_gets_the_source_zone() -> None:
    zh = build_document(
        RawRecord(
            "t", {"title": "标题", "text": "正文内容。", "published_at": "2025-09-10", "lang": "zh"}
        )
    )
    en = build_document(
        RawRecord("t", {"title": "Title", "text": "Body text.", "published_at": "2025-09-10"})
    )
    assert (
        zh.published_at is not None and zh.published_at.isoformat() == "2025-09-10T00:00:00+08:00"
    )
    assert (
        en.published_at is not None and en.published_at.isoformat() == "2025-09-10T00:00:00+00:00"
    )
    assert en.lang == "en"


def test_ids_are_stable_without_an_explicit_id() -> None:
    rec = {"title": "T", "url": "https://example.com/x", "text": "Body."}
    a = build_document(RawRecord("a", rec))
    b = build_document(RawRecord("b", {**rec, "text": "Body, edited."}))
    assert a.id == b.id and a.id.startswith("u")
    c = build_document(RawRecord("c", {"title": "T", "text": "Body."}))
    d = build_document(RawRecord("d", {"title": "T", "text": "Body."}))
    assert c.id == d.id and c.id.startswith("h")


def test_sample_corpus_ingests_cleanly(sample_engine: Engine) -> None:
    status = sample_engine.status()
    assert 40 <= status["documents"] <= 80
    assert status["indexed"] == status["documents"] == status["summarized"]
    # The corpus has syndicated near-copies, grouped into fewer stories.
    assert status["stories"] < status["documents"]
