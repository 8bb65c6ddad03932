"""Feeds served on 127.0.0.1 and from files: formats, conditional polls, error state."""

from __future__ import annotations

import gzip
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

import pytest
from click.testing import CliRunner

from conftest import SHARED_DATA, SiteServer
from newsdesk import Engine, load_settings, open_engine
from newsdesk.cli import cli
from newsdesk.cli.feeds import parse_duration
from newsdesk.errors import InputError
from newsdesk.ingest.feeds import looks_like_feed, parse_feed

NOW = datetime(2025, 9, 10, 12, 0, tzinfo=UTC)


def rss(items: list[dict[str, str]], title: str = "样例快讯") -> bytes:
    parts = []
    for it in items:
        body = ""
        if "content" in it:
            body += f"<content:encoded><![CDATA[{it['content']}]]></content:encoded>"
        if "description" in it:
            body += f"<description>{escape(it['description'])}</description>"
        pub = f"<pubDate>{escape(it['pubDate'])}</pubDate>" if it.get("pubDate") else ""
        link = f"<link>{escape(it['link'])}</link>" if it.get("link") else ""
        parts.append(f"<item><title>{escape(it.get('title', ''))}</title>{link}{pub}{body}</item>")
    return (
        '<?xml version="1.0" encoding="utf-8"?>\n<rss version="2.0" '
        'xmlns:content="http://purl.org/rss/1.0/modules/content/"><channel>'
        f"<title>{escape(title)}</title><link>https://example.cn/</link>{''.join(parts)}"
        "</channel></rss>"
    ).encode()


ITEMS = [
    {
        "title": "央行开展隔夜逆回购操作",
        "link": "https://example.cn/a/1",
        "pubDate": "Wed, 10 Sep 2025 06:21:00 +0800",
        "content": "<p>中国人民银行10日开展隔夜逆回购操作，操作量为6000亿元。</p>"
        '<p onclick="alert(1)">央行表示，此举是为了匹配银行体系短期流动性需求。</p>'
        "<script>alert('x')</script>",
        "description": "央行开展隔夜逆回购",
    },
    {
        "title": "Chip exports rise 12% in August",
        "link": "https://example.com/b/2",
        "pubDate": "2025-09-10 09:30",
        "description": "<p>Exports of integrated circuits rose 12% from a year earlier.</p>",
    },
    {"title": "只有标题的快讯：某公司股票连收4个涨停板", "link": "https://example.cn/a/3"},
]


# The feeds are served on 127.0.0.1, which a fetch may reach only when allowed.
LOCAL = {"fetch_allow_private": True}
LOCAL_ENV = {"NEWSDESK_FETCH_ALLOW_PRIVATE": "1"}


def _engine(home: Path) -> Engine:
    return open_engine(load_settings(home=home, overrides=LOCAL, environ={}), clock=lambda: NOW)


def test_rss_items_full_html_summary_only_and_title_only(site: SiteServer, home: Path) -> None:
    site.routes["/feed.xml"] = (200, {"Content-Type": "application/rss+xml"}, rss(ITEMS))
    with _engine(home) as engine:
        info, added = engine.add_feed(f"{site.url}/feed.xml")
        assert added and info.last_polled is None
        [poll] = engine.poll_feeds()
        assert poll.status == "ok" and poll.items == 3 and poll.counts["accepted"] == 3
        docs = {d.url: d for d in engine.store.get_documents(engine.store.newest_ids(10)).values()}
    full = docs["https://example.cn/a/1"]
    assert [p.text for p in full.paragraphs] == [
        "中国人民银行10日开展隔夜逆回购操作，操作量为6000亿元。",
        "央行表示，此举是为了匹配银行体系短期流动性需求。",
    ]
    assert full.source == "样例快讯" and full.lang == "zh"
    assert full.published_at is not None
    assert full.published_at.isoformat() == "2025-09-10T06:21:00+08:00"
    summary_only = docs["https://example.com/b/2"]
    assert [p.text for p in summary_only.paragraphs] == [
        "Exports of integrated circuits rose 12% from a year earlier."
    ]
    assert summary_only.lang == "en"
    assert summary_only.published_at is not None
    assert summary_only.published_at.isoformat() == "2025-09-10T09:30:00+00:00"
    title_only = docs["https://example.cn/a/3"]
    assert [p.text for p in title_only.paragraphs] == [title_only.title]


def test_conditional_polls_and_error_state(site: SiteServer, home: Path) -> None:
    body = rss(ITEMS[:2])

    def feed(headers: dict[str, str]) -> tuple[int, dict[str, str], bytes]:
        if headers.get("if-none-match") == '"v1"':
            return (304, {"ETag": '"v1"'}, b"")
        return (
            200,
            {
                "Content-Type": "application/rss+xml",
                "ETag": '"v1"',
                "Last-Modified": "Wed, 10 Sep 2025 04:00:00 GMT",
            },
            body,
        )

    site.routes["/cond.xml"] = feed
    site.routes["/broken.xml"] = (500, {}, b"oops")
    site.routes["/page.html"] = (200, {"Content-Type": "text/html"}, b"<html><p>hi</p></html>")
    with _engine(home) as engine:
        for path in ("/cond.xml", "/broken.xml", "/page.html"):
            engine.add_feed(site.url + path)
        first = {p.url.rsplit("/", 1)[1]: p for p in engine.poll_feeds()}
        assert first["cond.xml"].status == "ok" and first["cond.xml"].counts["accepted"] == 2
        assert first["broken.xml"].status == "error" and "HTTP 500" in first["broken.xml"].error
        assert first["page.html"].status == "error" and "not a feed" in first["page.html"].error
        second = {p.url.rsplit("/", 1)[1]: p for p in engine.poll_feeds()}
        assert second["cond.xml"].status == "not_modified"
        cond_requests = [h for path, h in site.requests if path == "/cond.xml"]
        assert cond_requests[-1]["if-none-match"] == '"v1"'
        assert cond_requests[-1]["if-modified-since"] == "Wed, 10 Sep 2025 04:00:00 GMT"
        state = {f.url.rsplit("/", 1)[1]: f for f in engine.feeds()}
        assert state["cond.xml"].error_count == 0 and state["cond.xml"].items_seen == 2
        assert state["cond.xml"].title == "样例快讯"
        assert state["broken.xml"].error_count == 2 and "HTTP 500" in state["broken.xml"].last_error
        # The server recovers: one good poll clears the error state.
        site.routes["/broken.xml"] = (200, {"Content-Type": "application/xml"}, rss(ITEMS[2:]))
        engine.poll_feeds()
        assert engine.feed_store.get(f"{site.url}/broken.xml").error_count == 0  # type: ignore[union-attr]
        assert engine.status()["documents"] == 3


def test_atom_json_feed_and_file_feed(site: SiteServer, home: Path, tmp_path: Path) -> None:
    atom = """<?xml version="1.0" encoding="gb2312"?>
<feed xmlns="http://www.w3.org/2005/Atom"><title>原子快讯</title>
<entry><title>光伏组件出口量同比增长</title><link href="https://example.cn/atom/1"/>
<updated>2025-09-09T08:00:00Z</updated>
<content type="html">&lt;p&gt;海关数据显示，8月光伏组件出口量同比增长15%。&lt;/p&gt;
</content></entry>
</feed>""".encode("gb18030")
    jsonfeed = {
        "version": "https://jsonfeed.org/version/1.1",
        "title": "JSON Wire",
        "items": [
            {
                "id": "1",
                "url": "https://example.com/j/1",
                "title": "Lithium prices fall for a third month",
                "content_html": "<p>Spot lithium carbonate fell 4% in August.</p>",
                "date_published": "2025-09-08T10:00:00-04:00",
            },
            {"id": "2", "url": "https://example.com/j/2", "content_text": "No title here.\n\nTwo."},
            "not an object",
        ],
    }
    site.routes["/atom"] = (200, {"Content-Type": "application/atom+xml"}, atom)
    site.routes["/feed.json"] = (
        200,
        {"Content-Type": "application/feed+json"},
        json.dumps(jsonfeed).encode(),
    )
    feed_file = tmp_path / "local.xml"
    feed_file.write_bytes(rss(ITEMS[:1], title="本地文件"))
    with _engine(home) as engine:
        engine.add_feed(f"{site.url}/atom")
        engine.add_feed(f"{site.url}/feed.json")
        engine.add_feed(str(feed_file))
        polls = {p.url: p for p in engine.poll_feeds()}
        assert [p.status for p in polls.values()] == ["ok", "ok", "ok"]
        assert polls[f"{site.url}/feed.json"].counts["accepted"] == 2
        assert engine.poll_feeds()[2].status == "not_modified"
        docs = engine.store.get_documents(engine.store.newest_ids(10))
        by_title = {d.title: d for d in docs.values()}
        assert engine.feeds()[0].kind == "atom10" and engine.feeds()[1].kind == "json1.1"
    atom_doc = by_title["光伏组件出口量同比增长"]
    assert atom_doc.paragraphs[0].text == "海关数据显示，8月光伏组件出口量同比增长15%。"
    assert atom_doc.published_at is not None and atom_doc.published_at.hour == 8
    lithium = by_title["Lithium prices fall for a third month"]
    assert lithium.published_at is not None
    assert lithium.published_at.isoformat() == "2025-09-08T10:00:00-04:00"
    untitled = by_title["No title here."]
    assert [p.text for p in untitled.paragraphs] == ["No title here.", "Two."]
    assert "央行开展隔夜逆回购操作" in by_title


def test_not_feeds_are_clear_errors() -> None:
    for data, message in (
        (b"", "empty feed"),
        (b"<rss><channel><title>T</ti", "not a feed"),
        (b"\x00\x01\x02garbage", "not a feed"),
        (b'{"version": "https://jsonfeed.org/version/1", "items": 3}', "no 'items'"),
        (b"{not json", "invalid JSON"),
    ):
        with pytest.raises(Exception, match=message):
            parse_feed(data, "http://127.0.0.1/x")
    assert looks_like_feed(b'<?xml version="1.0"?>\n<!-- c --><rss version="2.0">')
    assert not looks_like_feed(b"<!DOCTYPE html><html>", "text/html")


def test_durations() -> None:
    assert parse_duration("15m").total_seconds() == 900
    assert parse_duration("2h").total_seconds() == 7200
    assert parse_duration("90").total_seconds() == 90
    with pytest.raises(InputError):
        parse_duration("soon")


def test_feeds_cli(site: SiteServer, home: Path) -> None:
    site.routes["/f.xml"] = (200, {"Content-Type": "application/rss+xml"}, rss(ITEMS))

    def run(*args: str) -> Any:
        result = CliRunner().invoke(cli, ["--home", str(home), *args], env=LOCAL_ENV)
        assert result.exit_code == 0, result.output
        return result

    added = json.loads(run("feeds", "add", f"{site.url}/f.xml", "--json").stdout)
    assert added["added"] is True
    polled = json.loads(run("feeds", "poll", "--json").stdout)
    assert polled["feeds"][0]["counts"]["accepted"] == 3
    rounds = run("feeds", "poll", "--every", "1s", "--max-polls", "2", "--json").stdout
    assert rounds.count('"round"') == 2
    listed = json.loads(run("feeds", "list", "--json").stdout)
    assert listed["feeds"][0]["items_seen"] == 9 and listed["feeds"][0]["accepted"] == 3
    bad = CliRunner().invoke(cli, ["--home", str(home), "feeds", "add", "not-a-file-or-url"])
    assert bad.exit_code == 1 and "not an http(s) URL" in bad.stderr
    assert json.loads(run("status", "--json").stdout)["feeds"] == 1
    run("feeds", "remove", f"{site.url}/f.xml")
    assert json.loads(run("feeds", "list", "--json").stdout)["feeds"] == []
    again = CliRunner().invoke(cli, ["--home", str(home), "feeds", "remove", f"{site.url}/f.xml"])
    assert again.exit_code == 1 and "not following" in again.stderr


@pytest.mark.shared_data
def test_real_feed_items_with_their_summary_html(site: SiteServer, home: Path) -> None:
    """fin_rss_multisource's real items, served as an RSS feed: nothing lost, no mojibake."""
    path = SHARED_DATA / "fin_rss_multisource" / "articles.jsonl.gz"
    if not path.exists():
        pytest.skip(f"shared evaluation data not found at {path}")
    with gzip.open(path, "rt", encoding="utf-8") as fh:
        rows = [json.loads(line) for line in fh]
    # A fixed, modest slice with every kind of item: full HTML, short summaries, image-only.
    sample = rows[::40][:150]
    items = []
    for r in sample:
        item = {"title": r["title"], "link": r["link"], "pubDate": r["published"]}
        if len(r["paragraphs"]) >= 3 and "]]>" not in r["summary_html"]:
            item["content"] = r["summary_html"]
        else:
            item["description"] = r["summary_html"]
        items.append(item)
    site.routes["/real.xml"] = (200, {"Content-Type": "application/rss+xml"}, rss(items))
    # Polled now, after every item was published (a time days ahead of the poll is
    # not a publish time and would be dropped).
    settings = load_settings(home=home, overrides=LOCAL, environ={})
    with open_engine(settings) as engine:
        engine.add_feed(f"{site.url}/real.xml")
        [poll] = engine.poll_feeds()
        assert poll.items == len(sample)
        assert poll.counts["failed"] == 0 and poll.counts["skipped"] == 0
        assert poll.counts["accepted"] + poll.counts["duplicate"] == len(sample)
        docs = {
            d.url: d for d in engine.store.get_documents(engine.store.newest_ids(1000)).values()
        }

    def squash(text: str) -> str:
        return "".join(text.split())

    found = total = 0
    for r in sample:
        doc = docs.get(r["link"])
        if doc is None:
            continue
        assert doc.lang == r["lang"], r["link"]
        expected = datetime.fromisoformat(r["published_iso"])
        assert doc.published_at is not None
        if expected.tzinfo is not None:
            assert doc.published_at == expected, (r["published"], doc.published_at)
        body = squash(doc.text)
        for p in r["paragraphs"]:
            total += 1
            found += squash(p) in body
        if not r["paragraphs"]:
            assert [p.text for p in doc.paragraphs] == [doc.title]
    assert total > 200
    assert found / total >= 0.98, (found, total)


def test_failing_feed_backs_off_when_polling_on_a_schedule(site: SiteServer, home: Path) -> None:
    site.routes["/down.xml"] = (503, {}, b"down")
    moments = [NOW]
    settings = load_settings(home=home, overrides=LOCAL, environ={})
    with open_engine(settings, clock=lambda: moments[-1]) as engine:
        engine.add_feed(f"{site.url}/down.xml")
        assert engine.poll_feeds(backoff=timedelta(minutes=15))[0].status == "error"
        # One failure: wait 15 min * 2 before the next try.
        moments.append(NOW + timedelta(minutes=20))
        assert engine.poll_feeds(backoff=timedelta(minutes=15))[0].status == "backoff"
        moments.append(NOW + timedelta(minutes=31))
        assert engine.poll_feeds(backoff=timedelta(minutes=15))[0].status == "error"
        # A manual poll (no schedule) always tries.
        assert engine.poll_feeds()[0].status == "error"
        assert engine.feeds()[0].error_count == 3
    assert len([p for p, _ in site.requests if p == "/down.xml"]) == 3


RSS10 = b"""<?xml version="1.0" encoding="utf-8"?>
<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#" xmlns="http://purl.org/rss/1.0/"
 xmlns:dc="http://purl.org/dc/elements/1.1/">
<channel rdf:about="https://example.org/"><title>RDF Wire</title></channel>
<item rdf:about="https://example.org/r/1"><title>Copper output rises</title>
<link>https://example.org/r/1</link><dc:date>2025-09-09T10:00:00+08:00</dc:date>
<description>Refined copper output rose 6% in August.</description></item>
</rdf:RDF>"""
RSS091 = b"""<?xml version="1.0"?><rss version="0.91"><channel><title>Old Wire</title>
<item><title>Rates unchanged</title><link>https://example.org/o/1</link>
<description>The bank left rates unchanged.</description></item></channel></rss>"""


@pytest.mark.parametrize(
    ("data", "kind", "title", "published"),
    [
        (RSS10, "rss10", "Copper output rises", "2025-09-09T10:00:00+08:00"),
        (RSS091, "rss091u", "Rates unchanged", None),
    ],
)
def test_rss_1_0_and_0_91(data: bytes, kind: str, title: str, published: str | None) -> None:
    feed = parse_feed(data, "https://example.org/feed")
    assert feed.kind == kind
    [item] = feed.items
    assert item.fields["title"] == title
    assert item.fields["paragraphs"] and item.fields["url"].startswith("https://example.org/")
    assert item.fields.get("published_at") == published
