"""Write endpoints, tokens, size limits, the timeline and the Atom feed of a search."""

from __future__ import annotations

import itertools
import json
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

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
