"""Web pages by URL, served on 127.0.0.1: extraction, encodings, metadata and limits."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import opencc
from click.testing import CliRunner

from conftest import SiteServer
from newsdesk import Engine, load_settings, open_engine
from newsdesk.cli import cli

NOW = datetime(2025, 10, 10, 4, 0, tzinfo=UTC)

ARTICLE = [
    "商务部9日发布公告，决定对钬、铒、铥、铕、镱五种中重稀土相关物项实施出口管制，公告自2025年11月8日起正式施行。",
    "商务部新闻发言人表示，对相关物项实施出口管制是国际通行做法，有利于维护国家安全和利益，履行防扩散等国际义务。",
    "业内人士分析认为，此次管制范围扩大至中重稀土，将对全球永磁材料供应链产生一定影响，镕铸企业需提前做好合规准备。",
]


def chinese_page(charset_meta: str = "", published_meta: bool = True) -> str:
    meta = f'<meta charset="{charset_meta}">' if charset_meta else ""
    pub = (
        '<meta property="article:published_time" content="2025-10-09 17:10">'
        if published_meta
        else ""
    )
    body = "".join(f"<p>{p}</p>" for p in ARTICLE)
    return f"""<!DOCTYPE html><html lang="zh-CN"><head>{meta}
<title>稀土出口管制升级_财经频道_样例财经网</title>
<meta property="og:site_name" content="样例财经网">{pub}
<link rel="canonical" href="https://news.example.cn/2025/10/09/rare-earth.html">
<script>window.tracker = function() {{ alert('x') }}</script></head>
<body onload="tracker()">
<div class="topbar"><a href="/">首页</a> | <a href="/finance">财经</a></div>
<nav><a href="/">首页</a> <a href="/tech">科技</a> <a href="/auto">汽车</a></nav>
<div class="share">分享到：微博 微信 QQ空间</div>
<article><h1>商务部对五种稀土实施出口管制</h1>
<div class="info">2025年10月09日 17:10 来源：样例财经网</div>
{body}
<p>责任编辑：王小明</p></article>
<div class="related"><h3>相关新闻</h3><ul><li><a href="/a">稀土价格上涨</a></li>
<li><a href="/b">永磁企业扩产</a></li></ul></div>
<footer>版权所有 样例财经网 京ICP备00000000号</footer></body></html>"""


def _engine(home: Path, **settings: object) -> Engine:
    # The pages are served on 127.0.0.1, which a fetch may reach only when allowed.
    settings = {"fetch_allow_private": True, **settings}
    return open_engine(load_settings(home=home, overrides=settings, environ={}), clock=lambda: NOW)


def test_gbk_page_by_url_main_text_and_metadata(site: SiteServer, home: Path) -> None:
    site.routes["/news/1.html"] = (
        200,
        {"Content-Type": "text/html; charset=GBK"},
        chinese_page().encode("gbk"),
    )
    with _engine(home) as engine:
        report = engine.ingest_inputs([f"{site.url}/news/1.html"])
        assert report.counts["accepted"] == 1, report.results
        doc = engine.document(report.results[0].doc_id)
    assert [p.text for p in doc.paragraphs] == ARTICLE
    assert doc.title == "商务部对五种稀土实施出口管制" or doc.title.startswith("稀土出口管制升级")
    assert doc.source == "样例财经网"
    assert doc.url == "https://news.example.cn/2025/10/09/rare-earth.html"
    assert doc.lang == "zh"
    assert doc.published_at is not None
    assert doc.published_at.isoformat() == "2025-10-09T17:10:00+08:00"
    text = doc.text
    for boilerplate in ("责任编辑", "分享到", "相关新闻", "首页", "版权所有", "alert"):
        assert boilerplate not in text


def test_charset_from_meta_and_detection_without_any_label(site: SiteServer, home: Path) -> None:
    # GB2312 label on GBK bytes (镕 is outside GB2312): read as GB18030, no mojibake.
    site.routes["/meta.html"] = (
        200,
        {"Content-Type": "text/html"},
        chinese_page(charset_meta="gb2312").encode("gbk"),
    )
    to_traditional = opencc.OpenCC("s2tw").convert
    big5_page = to_traditional(chinese_page(published_meta=False)).replace(
        "news.example.cn", "tw.example.com"
    )
    traditional = [to_traditional(p) for p in ARTICLE]
    assert traditional[0].startswith("商務部")
    site.routes["/big5.html"] = (200, {"Content-Type": "text/html"}, big5_page.encode("big5"))
    with _engine(home) as engine:
        report = engine.ingest_inputs([f"{site.url}/meta.html", f"{site.url}/big5.html"])
        assert report.counts["accepted"] == 2, report.results
        gbk = engine.document(report.results[0].doc_id)
        big5 = engine.document(report.results[1].doc_id)
    assert [p.text for p in gbk.paragraphs] == ARTICLE
    assert [p.text for p in big5.paragraphs] == traditional
    assert big5.source == "樣例財經網"
    # Without a meta time the by-line's date and hour are used, in the source's zone.
    assert big5.published_at is not None
    assert big5.published_at.isoformat() == "2025-10-09T17:10:00+08:00"


def test_fetch_limits_and_refusals_are_outcomes(site: SiteServer, home: Path) -> None:
    site.routes["/loop"] = (302, {"Location": "/loop"}, b"")
    site.routes["/big"] = (200, {"Content-Type": "text/html"}, b"<p>" + b"x" * 300_000 + b"</p>")
    site.routes["/missing-page"] = (404, {}, b"gone")
    site.routes["/slow"] = (0, {"sleep": "3"}, b"")
    site.routes["/empty"] = (200, {"Content-Type": "text/html"}, b"")
    site.routes["/hop"] = (301, {"Location": "/news/ok.html"}, b"")
    site.routes["/news/ok.html"] = (
        200,
        {"Content-Type": "text/html; charset=utf-8"},
        chinese_page().encode("utf-8"),
    )
    with _engine(home, fetch_timeout=1.0, fetch_max_bytes=200_000, fetch_max_redirects=3) as e:
        report = e.ingest_inputs(
            [
                f"{site.url}/loop",
                f"{site.url}/big",
                f"{site.url}/missing-page",
                f"{site.url}/slow",
                f"{site.url}/empty",
                "file:///etc/passwd",
                "ftp://127.0.0.1/x",
                f"{site.url}/hop",
            ]
        )
    by_path = {r.origin.rsplit("/", 1)[-1]: r for r in report.results}
    assert "more than 3 redirects" in by_path["loop"].reason
    assert "too large" in by_path["big"].reason
    assert "HTTP 404" in by_path["missing-page"].reason
    assert "timed out" in by_path["slow"].reason
    assert by_path["empty"].outcome == "skipped"
    assert "only http and https" in by_path["passwd"].reason
    assert "only http and https" in by_path["x"].reason
    assert by_path["hop"].outcome == "accepted"
    assert report.counts["failed"] == 6 and report.counts["accepted"] == 1


def test_cli_ingest_url_json(site: SiteServer, home: Path) -> None:
    site.routes["/a.html"] = (
        200,
        {"Content-Type": "text/html; charset=gbk"},
        chinese_page().encode("gbk"),
    )
    result = CliRunner().invoke(
        cli,
        ["--home", str(home), "ingest", f"{site.url}/a.html", "--json"],
        env={"NEWSDESK_FETCH_ALLOW_PRIVATE": "1"},
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["counts"]["accepted"] == 1 and data["indexed"] == 1
    found = CliRunner().invoke(cli, ["--home", str(home), "search", "稀土 出口管制", "--json"])
    assert json.loads(found.stdout)["total"] == 1
