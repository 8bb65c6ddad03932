"""Formats and their hazards: dates, encodings, language, PDF, hostile and broken files."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from newsdesk import Engine
from newsdesk.ingest.dates import DateParseError, parse_datetime
from newsdesk.ingest.encoding import decode_bytes
from newsdesk.ingest.pdf import page_paragraphs
from newsdesk.text import detect_language

FETCHED = datetime(2025, 9, 10, 4, 0, tzinfo=UTC)  # 12:00 in Beijing


def make_pdf(pages: list[list[str]], title: str = "", cjk: bool = False) -> bytes:
    """A minimal PDF with a text layer: one text line per entry, Helvetica or STSong."""
    objs: list[bytes] = []

    def add(body: bytes) -> int:
        objs.append(body)
        return len(objs)

    if cjk:
        desc = add(
            b"<< /Type /FontDescriptor /FontName /STSong-Light /Flags 6"
            b" /FontBBox [0 -200 1000 900] /ItalicAngle 0 /Ascent 880 /Descent -120"
            b" /CapHeight 700 /StemV 80 >>"
        )
        cid = add(
            b"<< /Type /Font /Subtype /CIDFontType0 /BaseFont /STSong-Light /CIDSystemInfo"
            b" << /Registry (Adobe) /Ordering (GB1) /Supplement 4 >> /FontDescriptor %d 0 R >>"
            % desc
        )
        font = add(
            b"<< /Type /Font /Subtype /Type0 /BaseFont /STSong-Light /Encoding /UniGB-UCS2-H"
            b" /DescendantFonts [%d 0 R] >>" % cid
        )
    else:
        font = add(b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>")
    pages_id = len(objs) + 2 * len(pages) + 1
    page_ids = []
    for lines in pages:
        ops = [b"BT /F1 12 Tf 72 720 Td 14 TL"]
        for line in lines:
            if cjk:
                ops.append(b"<" + line.encode("utf-16-be").hex().encode() + b"> Tj T*")
            else:
                esc = line.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")
                ops.append(b"(" + esc.encode("latin-1") + b") Tj T*")
        ops.append(b"ET")
        stream = b"\n".join(ops)
        content = add(b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream")
        page_ids.append(
            add(
                b"<< /Type /Page /Parent %d 0 R /MediaBox [0 0 612 792]"
                b" /Resources << /Font << /F1 %d 0 R >> >> /Contents %d 0 R >>"
                % (pages_id, font, content)
            )
        )
    kids = b" ".join(b"%d 0 R" % i for i in page_ids)
    assert add(b"<< /Type /Pages /Kids [" + kids + b"] /Count %d >>" % len(page_ids)) == pages_id
    catalog = add(b"<< /Type /Catalog /Pages %d 0 R >>" % pages_id)
    info = add(b"<< /Title (" + title.encode("latin-1") + b") >>") if title else 0
    out = io.BytesIO()
    out.write(b"%PDF-1.4\n")
    offsets = []
    for i, body in enumerate(objs, start=1):
        offsets.append(out.tell())
        out.write(b"%d 0 obj\n" % i + body + b"\nendobj\n")
    xref = out.tell()
    out.write(b"xref\n0 %d\n0000000000 65535 f \n" % (len(objs) + 1))
    for offset in offsets:
        out.write(b"%010d 00000 n \n" % offset)
    trailer = b"<< /Size %d /Root %d 0 R" % (len(objs) + 1, catalog)
    if info:
        trailer += b" /Info %d 0 R" % info
    out.write(b"trailer\n" + trailer + b" >>\nstartxref\n%d\n%%%%EOF\n" % xref)
    return out.getvalue()


@pytest.mark.parametrize(
    ("text", "lang", "expected"),
    [
        ("2025-09-10T06:21:00+08:00", "zh", "2025-09-10T06:21:00+08:00"),
        ("2025-09-10T06:21:00Z", "en", "2025-09-10T06:21:00+00:00"),
        ("2025-09-10 06:21", "zh", "2025-09-10T06:21:00+08:00"),
        ("2025-09-10 06:21", "en", "2025-09-10T06:21:00+00:00"),
        ("2026-06-26 20:12:40  +0800", "zh", "2026-06-26T20:12:40+08:00"),
        ("2025-09-10", "zh", "2025-09-10T00:00:00+08:00"),
        ("Wed, 10 Sep 2025 06:21:00 GMT", "en", "2025-09-10T06:21:00+00:00"),
        ("Wed, 10 Sep 2025 06:21:00 +0800", "en", "2025-09-10T06:21:00+08:00"),
        ("Wed, 10 Sep 2025 06:21:00 CST", "zh", "2025-09-10T06:21:00+08:00"),
        ("2025年9月10日 06:21", "zh", "2025-09-10T06:21:00+08:00"),
        ("2025年09月10日06时21分", "zh", "2025-09-10T06:21:00+08:00"),
        ("２０２５年９月１０日", "zh", "2025-09-10T00:00:00+08:00"),
        ("2025/9/10 6:21", "zh", "2025-09-10T06:21:00+08:00"),
        ("北京时间2025年9月10日 06:21", "en", "2025-09-10T06:21:00+08:00"),
        ("9月10日", "zh", "2025-09-10T00:00:00+08:00"),
        ("9月9日 23:50", "zh", "2025-09-09T23:50:00+08:00"),
        ("12月30日", "zh", "2024-12-30T00:00:00+08:00"),
        ("3小时前", "zh", "2025-09-10T01:00:00+00:00"),
        ("30分钟前", "zh", "2025-09-10T03:30:00+00:00"),
        ("2天前", "zh", "2025-09-08T04:00:00+00:00"),
        ("刚刚", "zh", "2025-09-10T04:00:00+00:00"),
        ("昨天 08:00", "zh", "2025-09-09T08:00:00+08:00"),
        ("2 hours ago", "en", "2025-09-10T02:00:00+00:00"),
        ("1757485260", "en", "2025-09-10T06:21:00+00:00"),
    ],
)
def test_publish_time_forms(text: str, lang: str, expected: str) -> None:
    parsed = parse_datetime(text, lang, now=FETCHED)
    assert parsed.tzinfo is not None
    assert parsed == datetime.fromisoformat(expected)
    assert parsed.isoformat() == datetime.fromisoformat(expected).isoformat() or (
        parsed.utcoffset() == datetime.fromisoformat(expected).utcoffset()
    )


def test_source_zone_and_bad_times() -> None:
    new_york = timezone(timedelta(hours=-4))
    parsed = parse_datetime("2025-09-10 06:21", "en", zone=new_york)
    assert parsed.utcoffset() == timedelta(hours=-4)
    for bad in ("yesterday-ish", "2025年13月40日", "", "99:99", "next week"):
        with pytest.raises(DateParseError):
            parse_datetime(bad, "zh", now=FETCHED)


def test_encodings_are_detected_without_mojibake() -> None:
    zh = (
        "人民币汇率保持基本稳定，外汇储备规模为3.3万亿美元。"
        "央行表示将继续保持流动性合理充裕，镕基金规模扩大。"
    )
    tw = "人民幣匯率保持基本穩定，外匯儲備規模為3.3萬億美元。央行表示將繼續保持流動性合理充裕。"
    assert decode_bytes(zh.encode("gbk")).text == zh
    assert decode_bytes(zh.encode("gb18030")).text == zh
    assert decode_bytes(tw.encode("big5")).text == tw
    assert decode_bytes(zh.encode("utf-8")).text == zh
    assert decode_bytes(b"\xef\xbb\xbf" + zh.encode("utf-8")).text == zh
    # A GB2312 label on GBK bytes is read as GB18030 (镕 is not in GB2312).
    assert decode_bytes(zh.encode("gbk"), "gb2312").text == zh
    page = f'<html><head><meta charset="big5"></head><body>{tw}</body></html>'
    assert tw in decode_bytes(page.encode("big5")).text
    # A wrong header charset that cannot decode the bytes is not trusted.
    assert decode_bytes(zh.encode("utf-8"), "big5").text == zh
    assert decode_bytes(zh.encode("gbk"), "utf-8").text == zh
    # A server's Latin-1 default on a GBK page decodes, but into mojibake: not used.
    page_gbk = f'<html><head><meta charset="gbk"></head><body>{zh}</body></html>'
    assert zh in decode_bytes(page_gbk.encode("gbk"), "ISO-8859-1").text
    assert decode_bytes(zh.encode("gbk"), "iso-8859-1").text == zh
    assert decode_bytes("Café au lait, s'il vous plaît.".encode("latin-1"), "iso-8859-1").text == (
        "Café au lait, s'il vous plaît."
    )


def test_language_zh_en_mixed() -> None:
    assert detect_language("央行下调一年期贷款市场报价利率至2.90%。") == "zh"
    assert detect_language("The ECB held rates at 2% on Thursday.") == "en"
    mixed = (
        "英伟达周二发布新一代数据中心芯片，称将于今年下半年开始出货。\n\n"
        "Nvidia unveiled its next generation of data centre chips on Tuesday, saying"
        " shipments would start in the second half of the year."
    )
    assert detect_language(mixed) == "mixed"
    assert detect_language("12345 !!!") == "und"


def test_pdf_text_layer_in_english_and_chinese(engine: Engine, tmp_path: Path) -> None:
    (tmp_path / "report.pdf").write_bytes(
        make_pdf(
            [
                [
                    "Battery plant approved in Hungary",
                    "The regional government approved a battery plant that will cost",
                    "7.3 billion euros and employ about 9,000 people.",
                ],
                ["Output starts in 2026, the company said in a statement on Monday."],
            ],
            title="Battery report",
        )
    )
    (tmp_path / "lpr.pdf").write_bytes(
        make_pdf(
            [
                [
                    "央行下调贷款市场报价利率",
                    "中国人民银行授权全国银行间同业拆借中心公布，一年期贷款市场报价利率",
                    "下调10个基点至2.90%。",
                ]
            ],
            cjk=True,
        )
    )
    (tmp_path / "blank.pdf").write_bytes(make_pdf([[]]))
    (tmp_path / "broken.pdf").write_bytes(make_pdf([["Some text here."]])[:150])
    (tmp_path / "fake.pdf").write_bytes(b"%PDF-1.7 this is not really a pdf" * 10)
    report = engine.ingest_paths([tmp_path])
    by_name = {Path(r.origin).name: r for r in report.results}
    assert by_name["report.pdf"].outcome == "accepted"
    assert by_name["lpr.pdf"].outcome == "accepted"
    for name in ("blank.pdf", "broken.pdf", "fake.pdf"):
        assert by_name[name].outcome == "failed", by_name[name]
        assert "PDF" in by_name[name].reason
    english = engine.document(by_name["report.pdf"].doc_id)
    assert english.title == "Battery report"
    assert [p.text for p in english.paragraphs] == [
        "Battery plant approved in Hungary",
        "The regional government approved a battery plant that will cost 7.3 billion euros"
        " and employ about 9,000 people.",
        "Output starts in 2026, the company said in a statement on Monday.",
    ]
    chinese = engine.document(by_name["lpr.pdf"].doc_id)
    assert chinese.title == "央行下调贷款市场报价利率"
    assert [p.text for p in chinese.paragraphs] == [
        "中国人民银行授权全国银行间同业拆借中心公布，一年期贷款市场报价利率下调10个基点至2.90%。"
    ]
    assert chinese.lang == "zh"


def test_pdf_lines_rejoin_hyphenated_words() -> None:
    text = "The committee said the new rules would be imple-\nmented next year in full.\n\nNext."
    assert page_paragraphs(text) == [
        "The committee said the new rules would be implemented next year in full.",
        "Next.",
    ]


def test_hostile_and_broken_inputs_get_outcomes(engine: Engine, tmp_path: Path) -> None:
    hostile = (
        "<html><head><title>Rates held</title><style>p{}</style></head><body>"
        '<p onmouseover="steal()">The central bank held its policy rate at 3.5% on Tuesday.</p>'
        "<script>document.cookie</script><iframe src='javascript:alert(1)'></iframe>"
        "<svg><script>alert(2)</script></svg><p>Markets had expected no change.</p>"
        "<img src=x onerror=alert(3)></body></html>"
    )
    (tmp_path / "hostile.html").write_text(hostile, encoding="utf-8")
    (tmp_path / "deep.html").write_text("<div>" * 50_000 + "deep text" + "</div>" * 10, "utf-8")
    (tmp_path / "wrong.txt").write_bytes("标题\n\n正文内容在这里。".encode("utf-16-le"))
    (tmp_path / "junk.html").write_bytes(bytes(range(256)) * 50)
    (tmp_path / "nested.jsonl").write_text("[" * 100_000 + "\n", encoding="utf-8")
    (tmp_path / "mojibake.txt").write_bytes(b"\xff\xfe\xfd" * 10 + "尾部文字。".encode("gbk"))
    report = engine.ingest_paths([tmp_path])
    outcomes = {Path(r.origin.split(":")[0]).name: r for r in report.results}
    assert outcomes["hostile.html"].outcome == "accepted"
    doc = engine.document(outcomes["hostile.html"].doc_id)
    assert [p.text for p in doc.paragraphs] == [
        "The central bank held its policy rate at 3.5% on Tuesday.",
        "Markets had expected no change.",
    ]
    assert len(report.results) == 6
    for r in report.results:
        assert r.outcome in ("accepted", "skipped", "failed"), r
        if r.outcome != "accepted":
            assert r.reason
    assert outcomes["junk.html"].outcome == "skipped"
    assert outcomes["nested.jsonl"].outcome == "failed"


def test_enormous_file_is_skipped_without_reading_it(engine: Engine, tmp_path: Path) -> None:
    big = tmp_path / "huge.jsonl"
    with big.open("wb") as fh:  # sparse: 65 MiB on paper, nothing on disk
        fh.truncate(65 * 1024 * 1024)
    [result] = engine.ingest_paths([big]).results
    assert result.outcome == "skipped" and "too large" in result.reason
