"""Write endpoints, tokens, size limits, the timeline and the Atom feed of a search."""

from __future__ import annotations

import http.server
import itertools
import json
import re
import socket
import threading
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from conftest import LiveServer
from newsdesk import Engine, load_settings, open_engine

TOKEN = "test-token-123"
ATOM = "{http://www.w3.org/2005/Atom}"
DOC = {
    "id": "api-doc-1",
    "title": "钠离子电池量产提速",
    "source": "接口测试",
    "published_at": "2025-11-20T10:00:00+08:00",
    "paragraphs": [
        "多家电池企业宣布钠离子电池量产计划，预计2026年产能达到50GWh。",
        "业内人士称成本有望下降30%。",
    ],
}


@pytest.fixture
def writable(tmp_path: Path) -> Iterator[LiveServer]:
    settings = load_settings(
        home=tmp_path / "home",
        overrides={"api_token": TOKEN, "max_request_bytes": 64_000},
        environ={},
    )
    with open_engine(settings) as engine, LiveServer(engine) as server:
        yield server


@pytest.fixture
def local_writable(tmp_path: Path) -> Iterator[LiveServer]:
    """A writable server whose fetches may reach 127.0.0.1 (where the test sites are)."""
    settings = load_settings(
        home=tmp_path / "home",
        overrides={"api_token": TOKEN, "fetch_allow_private": True},
        environ={},
    )
    with open_engine(settings) as engine, LiveServer(engine) as server:
        yield server


@pytest.fixture
def readonly(tmp_path: Path) -> Iterator[LiveServer]:
    settings = load_settings(home=tmp_path / "home", environ={})
    with open_engine(settings) as engine, LiveServer(engine) as server:
        yield server


def _auth(token: str = TOKEN) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_writes_need_the_token(writable: LiveServer) -> None:
    url = writable.url + "/api/v1/documents"
    missing = httpx.post(url, json=DOC)
    assert missing.status_code == 401
    assert missing.headers["www-authenticate"] == "Bearer"
    assert missing.json()["error"]["code"] == "unauthorized"
    wrong = httpx.post(url, json=DOC, headers=_auth("nope"))
    assert wrong.status_code == 401
    assert httpx.get(writable.url + "/api/v1/documents/api-doc-1").status_code == 404


def test_writes_are_disabled_without_a_configured_token(readonly: LiveServer) -> None:
    r = httpx.post(readonly.url + "/api/v1/documents", json=DOC, headers=_auth())
    assert r.status_code == 403
    assert "NEWSDESK_API_TOKEN" in r.json()["error"]["message"]


def test_post_documents_then_search_finds_them(writable: LiveServer) -> None:
    body = {"documents": [DOC, {"title": "no body"}, "not an object"]}
    r = httpx.post(writable.url + "/api/v1/documents", json=body, headers=_auth())
    assert r.status_code == 200, r.text
    data = r.json()
    assert data["ok"] is True
    assert data["counts"]["accepted"] == 1 and data["counts"]["failed"] == 2
    assert [p["origin"] for p in data["problems"]] == ["request:2", "request:3"]
    found = httpx.get(writable.url + "/api/v1/search", params={"q": "钠离子电池"}).json()
    assert [h["id"] for h in found["results"]] == ["api-doc-1"]
    again = httpx.post(writable.url + "/api/v1/documents", json=DOC, headers=_auth()).json()
    assert again["counts"]["unchanged"] == 1


def test_upload_a_file(writable: LiveServer) -> None:
    lines = "\n".join(
        json.dumps(
            {
                **DOC,
                "id": f"up-{i}",
                "title": f"上传测试{i}号",
                "paragraphs": [f"第{i}条上传的新闻内容，涉及{i}家公司。"],
            },
            ensure_ascii=False,
        )
        for i in range(3)
    )
    files = {"file": ("../../etc/batch.jsonl", lines.encode("utf-8"), "application/x-ndjson")}
    r = httpx.post(writable.url + "/api/v1/ingest/file", files=files, headers=_auth())
    assert r.status_code == 200, r.text
    data = r.json()
    assert data["counts"]["accepted"] == 3
    assert all(a["origin"].startswith("upload:batch.jsonl:") for a in data["accepted"])
    bad = httpx.post(
        writable.url + "/api/v1/ingest/file",
        files={"file": ("x.exe", b"MZ", "application/octet-stream")},
        headers=_auth(),
    )
    assert bad.status_code == 400 and "unsupported file type" in bad.json()["error"]["message"]


def test_request_size_limit(writable: LiveServer) -> None:
    big = {**DOC, "paragraphs": ["很长的段落。" * 20_000]}
    r = httpx.post(writable.url + "/api/v1/documents", json=big, headers=_auth())
    assert r.status_code == 413
    assert r.json()["error"]["code"] == "too_large"
    assert "script-src 'self'" in r.headers["content-security-policy"]

    def chunks() -> Iterator[bytes]:
        for _ in range(100):
            yield b"x" * 1000

    streamed = httpx.post(
        writable.url + "/api/v1/documents",
        content=chunks(),
        headers={**_auth(), "Content-Type": "application/json"},
    )
    assert streamed.status_code == 413


class BodyCounter:
    """Wraps the app and counts the request body bytes it reads."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.received = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def counted() -> Message:
            message = await receive()
            self.received += len(message.get("body", b""))
            return message

        await self.app(scope, counted, send)


def _read_response(sock: socket.socket) -> tuple[int, bytes]:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        assert chunk, "connection closed before a response"
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = int(re.search(rb"(?i)content-length: *(\d+)", head)[1])  # type: ignore[index]
    while len(body) < length:
        body += sock.recv(65536)
    return int(head.split()[1]), body


@pytest.mark.parametrize("token", [None, "wrong"])
def test_the_token_is_checked_before_the_body_is_read(tmp_path: Path, token: str | None) -> None:
    settings = load_settings(home=tmp_path / "home", overrides={"api_token": TOKEN}, environ={})
    counters: list[BodyCounter] = []

    def wrap(app: ASGIApp) -> ASGIApp:
        counters.append(BodyCounter(app))
        return counters[-1]

    declared = 19 * 1024 * 1024
    auth = f"Authorization: Bearer {token}\r\n" if token else ""
    head = (
        "POST /api/v1/ingest/file HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        f"{auth}Content-Type: multipart/form-data; boundary=xyz\r\n"
        f"Content-Length: {declared}\r\n\r\n"
    )
    with open_engine(settings) as engine, LiveServer(engine, wrap) as server:
        with socket.create_connection(("127.0.0.1", server.port)) as sock:
            # A safety net against a server that waits for the body; not the criterion.
            sock.settimeout(300)
            sock.sendall(head.encode("ascii") + b"x" * 65536)
            # The answer comes while 19 MB of the body are still unsent ...
            status, body = _read_response(sock)
            assert status == 401
            assert json.loads(body)["error"]["code"] == "unauthorized"
            # ... and the server hangs up instead of reading the rest.
            try:
                rest = sock.recv(65536)
            except ConnectionResetError:
                rest = b""
            assert rest == b""
        assert counters[0].received == 0


def test_read_token_when_configured(tmp_path: Path) -> None:
    settings = load_settings(
        home=tmp_path / "home",
        overrides={"api_token": TOKEN, "api_token_for_reads": True},
        environ={},
    )
    with open_engine(settings) as engine, LiveServer(engine) as server:
        assert httpx.get(server.url + "/api/v1/search", params={"q": "x"}).status_code == 401
        ok = httpx.get(server.url + "/api/v1/search", params={"q": "x"}, headers=_auth())
        assert ok.status_code == 200
        assert httpx.get(server.url + "/api/v1/health").status_code == 200


def test_timeline_counts_every_relevant_story(live_server: LiveServer) -> None:
    data = httpx.get(live_server.url + "/api/v1/search", params={"q": "芯片", "limit": 3}).json()
    timeline = data["timeline"]
    assert timeline and sum(b["count"] for b in timeline) == data["total"]
    starts = [b["start"] for b in timeline]
    assert starts == sorted(starts)
    for a, b in itertools.pairwise(timeline):
        assert a["end"] < b["start"]
    page = httpx.get(live_server.url + "/", params={"q": "芯片"}).text
    assert page.count('class="bar-link"') == len(timeline)


def test_atom_feed_of_a_search(live_server: LiveServer, sample_engine: Engine) -> None:
    r = httpx.get(live_server.url + "/search.atom", params={"q": "技术主权"})
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("application/atom+xml")
    feed = ET.fromstring(r.content)
    entries = feed.findall(f"{ATOM}entry")
    api = httpx.get(
        live_server.url + "/api/v1/search", params={"q": "技术主权", "limit": 20}
    ).json()
    assert [e.findtext(f"{ATOM}title") for e in entries] == [h["title"] for h in api["results"]]
    first = entries[0]
    link = first.find(f"{ATOM}link[@rel='alternate']")
    assert link is not None and link.attrib["href"].startswith(live_server.url + "/documents/")
    assert "[1]" in (first.findtext(f"{ATOM}summary") or "")
    # Hostile titles stay text in XML too.
    hostile = httpx.get(live_server.url + "/search.atom", params={"q": "markup handling"})
    titles = [
        e.findtext(f"{ATOM}title") for e in ET.fromstring(hostile.content).iter(f"{ATOM}entry")
    ]
    assert any("<script>alert(1)</script>" in (t or "") for t in titles)
    assert b"<script>" not in hostile.content
    assert httpx.get(live_server.url + "/search.atom").status_code == 422


def test_sources_endpoint(live_server: LiveServer, sample_engine: Engine) -> None:
    data = httpx.get(live_server.url + "/api/v1/sources").json()
    counts = {s["source"]: s["documents"] for s in data["sources"]}
    assert sum(counts.values()) == sample_engine.status()["documents"]


class _Site:
    """A tiny web site on 127.0.0.1 serving a page and a feed the test writes."""

    PAGE = (
        "<html><head><title>芯片产能扩张 | 样例网</title>"
        '<meta property="article:published_time" content="2025-11-21T08:00:00+08:00">'
        "</head><body><nav>首页 | 科技</nav><article><h1>晶圆厂产能扩张提速</h1>"
        "<p>多家晶圆厂宣布扩产计划，预计2026年新增月产能12万片。</p>"
        "<p>业内人士表示，成熟制程的需求仍在增长，设备交付周期约为18个月。</p>"
        "</article><footer>责任编辑：测试</footer></body></html>"
    )
    FEED = (
        '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel>'
        "<title>样例科技频道</title><link>http://127.0.0.1/</link>"
        "<item><title>光伏组件出口增长</title><link>http://127.0.0.1/a1</link>"
        "<pubDate>Fri, 21 Nov 2025 02:00:00 GMT</pubDate>"
        "<description>今年前十个月光伏组件出口量同比增长约15%，欧洲市场需求回暖。</description></item>"
        "</channel></rss>"
    )

    def __init__(self) -> None:
        site = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                body, kind = (
                    (site.FEED, "application/rss+xml")
                    if self.path.startswith("/feed")
                    else (site.PAGE, "text/html")
                )
                data = body.encode("utf-8")
                self.send_response(200)
                self.send_header("Content-Type", f"{kind}; charset=utf-8")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: object) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def site() -> Iterator[_Site]:
    s = _Site()
    yield s
    s.close()


def test_ingest_a_page_by_url(local_writable: LiveServer, site: _Site) -> None:
    writable = local_writable
    r = httpx.post(
        writable.url + "/api/v1/ingest/url", json={"url": site.url + "/news/1"}, headers=_auth()
    )
    assert r.status_code == 200, r.text
    assert r.json()["counts"]["accepted"] == 1
    doc_id = r.json()["accepted"][0]["id"]
    doc = httpx.get(f"{writable.url}/api/v1/documents/{doc_id}").json()
    assert doc["title"] == "晶圆厂产能扩张提速"
    texts = [p["text"] for p in doc["paragraphs"]]
    assert any("12万片" in t for t in texts)
    assert not any("责任编辑" in t or "首页" in t for t in texts)
    found = httpx.get(writable.url + "/api/v1/search", params={"q": "晶圆厂"}).json()
    assert [h["id"] for h in found["results"]] == [doc_id]


@pytest.mark.parametrize("target", ["file:///etc/passwd", "/etc/passwd", "ftp://x/y", ""])
def test_ingest_by_url_refuses_anything_but_http(writable: LiveServer, target: str) -> None:
    r = httpx.post(writable.url + "/api/v1/ingest/url", json={"url": target}, headers=_auth())
    assert r.status_code == 400
    assert r.json()["ok"] is False
    r = httpx.post(writable.url + "/api/v1/feeds", json={"url": target}, headers=_auth())
    assert r.status_code == 400


def test_follow_poll_and_drop_a_feed(local_writable: LiveServer, site: _Site) -> None:
    writable = local_writable
    feed_url = site.url + "/feed.xml"
    added = httpx.post(writable.url + "/api/v1/feeds", json={"url": feed_url}, headers=_auth())
    assert added.status_code == 200 and added.json()["added"] is True
    listed = httpx.get(writable.url + "/api/v1/feeds").json()["feeds"]
    assert [f["url"] for f in listed] == [feed_url]
    polled = httpx.post(writable.url + "/api/v1/feeds/poll", headers=_auth()).json()
    assert polled["feeds"][0]["status"] == "ok"
    assert polled["feeds"][0]["counts"]["accepted"] == 1
    found = httpx.get(writable.url + "/api/v1/search", params={"q": "光伏组件"}).json()
    assert found["total"] == 1
    assert httpx.post(writable.url + "/api/v1/feeds/poll").status_code == 401
    gone = httpx.delete(writable.url + "/api/v1/feeds", params={"url": feed_url}, headers=_auth())
    assert gone.status_code == 200
    assert httpx.get(writable.url + "/api/v1/feeds").json()["feeds"] == []
    again = httpx.delete(writable.url + "/api/v1/feeds", params={"url": feed_url}, headers=_auth())
    assert again.status_code == 404 and again.json()["error"]["code"] == "not_found"


def test_snippet_highlights_are_marked_and_escaped(live_server: LiveServer) -> None:
    api = httpx.get(live_server.url + "/api/v1/search", params={"q": "稀土"}).json()
    marked = [h["snippet"][a:b] for h in api["results"] for a, b in h["snippet_highlights"]]
    assert marked and all("稀土" in m for m in marked)
    page = httpx.get(live_server.url + "/", params={"q": "稀土"}).text
    # A snippet a bullet already says is not shown again (issue 11); the others are.
    shown = [h for h in api["results"] if not h["snippet_repeats_summary"]]
    assert page.count("<mark>") >= len(shown) >= 1
    assert "<mark>稀土</mark>" in page
    for hit in api["results"]:
        if hit["snippet_repeats_summary"]:
            core = hit["snippet"].strip("…")[:30]
            bullets = [b["original"] for s in hit["summary"]["sections"] for b in s["bullets"]]
            assert any(core[:20] in (b or "") for b in bullets), (core, bullets)
    hostile = httpx.get(live_server.url + "/", params={"q": "onerror"}).text
    assert "<img src=x onerror" not in hostile
