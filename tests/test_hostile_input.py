"""Hostile or broken input: impossible dates, invalid characters, malformed URLs, one id
twice. Each is handled per document (or per feed); nothing valid is lost, no 500."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner

from conftest import LiveServer, write_jsonl
from newsdesk import Engine, load_settings, open_engine
from newsdesk.cli import cli
from newsdesk.views import timeline

TOKEN = "hostile-token"


def _auth() -> dict[str, str]:
    return {"Authorization": f"Bearer {TOKEN}"}


def _doc(i: int, **extra: object) -> dict[str, object]:
    return {
        "id": f"d{i}",
        "title": f"芯片出口管制第{i}篇报道",
        "source": "测试社",
        "published_at": f"2025-10-{10 + i:02d}T08:00:00+08:00",
        "paragraphs": [f"芯片出口管制的第{i}条消息，涉及{i}家企业和{i * 10}亿元投资。"],
        **extra,
    }


@pytest.fixture
def server(tmp_path: Path) -> Iterator[LiveServer]:
    settings = load_settings(home=tmp_path / "home", overrides={"api_token": TOKEN}, environ={})
    with open_engine(settings) as engine, LiveServer(engine) as live:
        yield live


def _post_json(url: str, body: object) -> httpx.Response:
    # json.dumps escapes a lone surrogate as \ud800, as a real client's JSON would.
    return httpx.post(
        url,
        content=json.dumps(body).encode("ascii"),
        headers={**_auth(), "Content-Type": "application/json"},
    )


# -- dates -------------------------------------------------------------------------------
def test_impossible_publish_times_are_dropped_with_a_note(server: LiveServer) -> None:
    docs = [
        _doc(1, published_at="9999-12-31T23:59:59-12:00"),
        _doc(2, published_at="0001-01-01"),
        _doc(3),
        _doc(4, published_at="99999999天前"),
    ]
    r = _post_json(server.url + "/api/v1/documents", {"documents": docs})
    assert r.status_code == 200, r.text
    data = r.json()
    assert data["counts"]["accepted"] == 3 and data["counts"]["failed"] == 1
    assert "not a time we can read" in data["problems"][0]["reason"]
    notes = {n["id"]: n["note"] for n in data["notes"]}
    assert set(notes) == {"d1", "d2"}
    assert "outside 1970-01-01 .." in notes["d1"] and "stored undated" in notes["d1"]
    for doc_id, published in (("d1", None), ("d2", None), ("d3", "2025-10-13T08:00:00+08:00")):
        doc = httpx.get(f"{server.url}/api/v1/documents/{doc_id}").json()
        assert doc["published_at"] == published
    found = httpx.get(server.url + "/api/v1/search", params={"q": "芯片出口管制"})
    assert found.status_code == 200 and found.json()["total"] == 3


def test_a_time_days_ahead_of_the_fetch_is_not_a_publish_time(tmp_path: Path) -> None:
    now = datetime(2025, 10, 10, tzinfo=UTC)
    with open_engine(load_settings(home=tmp_path / "h", environ={}), clock=lambda: now) as e:
        ahead = _doc(1, published_at="2025-10-11T23:00:00+00:00")  # within two days
        far = _doc(2, published_at="2025-10-13T00:00:00+00:00")
        path = write_jsonl(tmp_path / "a.jsonl", [ahead, far])
        report = e.ingest_paths([path])
        assert report.results[0].note == ""
        assert "outside 1970-01-01 .. 2025-10-12" in report.results[1].note
        assert e.document("d1").published_at is not None
        assert e.document("d2").published_at is None


def _store_dates_as_an_old_version_would(home: Path, dates: dict[str, str]) -> None:
    conn = sqlite3.connect(home / "newsdesk.sqlite3")
    with conn:
        for doc_id, iso in dates.items():
            moment = datetime.fromisoformat(iso)
            conn.execute(
                "UPDATE documents SET published_at = ?, published_ts = ? WHERE id = ?",
                (iso, int(moment.timestamp()), doc_id),
            )
    conn.close()


def test_any_stored_date_is_served(tmp_path: Path) -> None:
    home = tmp_path / "home"
    settings = load_settings(home=home, environ={})
    with open_engine(settings) as engine:
        path = write_jsonl(tmp_path / "a.jsonl", [_doc(i) for i in range(1, 5)])
        assert engine.ingest_paths([path]).counts["accepted"] == 4
    _store_dates_as_an_old_version_would(
        home,
        {
            "d1": "9999-12-31T23:59:59-12:00",
            "d2": "0001-01-01T00:00:00+08:00",
            "d3": "9999-12-31T00:00:00+00:00",
        },
    )
    with open_engine(settings) as engine, LiveServer(engine) as live:
        for path, params in [
            ("/", {"q": "芯片出口管制"}),
            ("/", {"q": "芯片出口管制", "sort": "relevance", "page": "1"}),
            ("/", {"q": "芯片出口管制", "since": "0001-01-01", "until": "9999-12-31"}),
            ("/search.atom", {"q": "芯片出口管制"}),
            ("/api/v1/search", {"q": "芯片出口管制"}),
            ("/api/v1/search", {"q": ""}),
            ("/documents/d1", {}),
            ("/documents/d2", {}),
            ("/api/v1/documents/d1", {}),
        ]:
            r = httpx.get(live.url + path, params=params, timeout=60)
            assert r.status_code == 200, (path, params, r.text[:300])
        api = httpx.get(live.url + "/api/v1/search", params={"q": "芯片出口管制"}).json()
        assert api["total"] == 4
        # The timeline counts the times it can draw (the one in the window) only.
        assert sum(b["count"] for b in api["timeline"]) == 1
        result = CliRunner().invoke(cli, ["--home", str(home), "search", "芯片出口管制"])
        assert result.exit_code == 0, result.output


def test_timeline_of_extreme_dates_is_small_and_safe() -> None:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    extremes = (
        datetime(9999, 12, 31, 23, 0, tzinfo=UTC),
        datetime(1, 1, 1, tzinfo=UTC),
        datetime(1970, 1, 1, tzinfo=UTC),
        datetime(2025, 6, 1, tzinfo=UTC),
        None,
    )
    buckets = timeline(extremes, now)
    # 1970 .. 2025 is drawn by year; the two impossible times are left out.
    assert len(buckets) == 56
    assert buckets[0]["start"] == "1970-01-01" and buckets[-1]["end"] == "2025-12-31"
    assert sum(b["count"] for b in buckets) == 2


# -- characters --------------------------------------------------------------------------
def test_a_lone_surrogate_costs_a_character_not_the_batch(server: LiveServer) -> None:
    docs = [
        _doc(1),
        _doc(2, title="坏字符\ud800标题", paragraphs=["正文\udfff芯片出口管制。"]),
        _doc(3),
    ]
    r = _post_json(server.url + "/api/v1/documents", {"documents": docs})
    assert r.status_code == 200, r.text
    assert r.json()["counts"]["accepted"] == 3
    bad = httpx.get(server.url + "/api/v1/documents/d2").json()
    assert bad["title"] == "坏字符\ufffd标题"
    assert bad["paragraphs"][0]["text"] == "正文\ufffd芯片出口管制。"
    # A surrogate in a field name still gets a clear per-document failure, not a 500.
    r = _post_json(server.url + "/api/v1/documents", {"documents": [{**_doc(5), "x\ud800": 1}]})
    assert r.status_code == 200 and r.json()["counts"]["failed"] == 1
    assert "unknown field" in r.json()["problems"][0]["reason"]

    lines = "\n".join(json.dumps(d) for d in [_doc(6), _doc(7, title="上传\ud800"), _doc(8)])
    files = {"file": ("batch.jsonl", lines.encode("ascii"), "application/x-ndjson")}
    up = httpx.post(server.url + "/api/v1/ingest/file", files=files, headers=_auth())
    assert up.status_code == 200, up.text
    assert up.json()["counts"]["accepted"] == 3


def test_cli_ingest_of_a_lone_surrogate_has_no_traceback(home: Path, tmp_path: Path) -> None:
    path = tmp_path / "a.jsonl"
    path.write_text(
        "\n".join(json.dumps(d) for d in [_doc(1), _doc(2, title="坏\ud800"), _doc(3)]) + "\n",
        encoding="ascii",
    )
    result = CliRunner().invoke(cli, ["--home", str(home), "ingest", str(path), "--json"])
    assert result.exit_code == 0, result.output
    assert "Traceback" not in result.output
    assert json.loads(result.stdout)["counts"]["accepted"] == 3


# -- malformed URLs ----------------------------------------------------------------------
@pytest.mark.parametrize(
    "url", ["http://[::1/", "http://example.com:99999/", "http://exa mple.com:x/", "http://[zz]/"]
)
def test_malformed_urls_are_400_with_the_envelope(server: LiveServer, url: str) -> None:
    for path in ("/api/v1/ingest/url", "/api/v1/feeds"):
        r = httpx.post(server.url + path, json={"url": url}, headers=_auth())
        assert r.status_code == 400, (path, r.text)
        body = r.json()
        assert body["ok"] is False and body["error"]["code"] == "bad_request"
        assert "malformed URL" in body["error"]["message"]


def test_a_stored_bad_feed_gets_its_error_and_the_others_are_polled(tmp_path: Path) -> None:
    settings = load_settings(home=tmp_path / "home", overrides={"api_token": TOKEN}, environ={})
    with open_engine(settings) as engine, LiveServer(engine) as server:
        _poll_with_a_bad_feed(engine, server, tmp_path)


def _poll_with_a_bad_feed(engine: Engine, server: LiveServer, tmp_path: Path) -> None:
    feed_file = tmp_path / "good.xml"
    feed_file.write_text(
        '<?xml version="1.0"?><rss version="2.0"><channel><title>好源</title>'
        "<item><title>芯片出口管制新规发布</title><link>https://example.cn/n/1</link>"
        "<description>商务部发布芯片出口管制新规，涉及12类物项。</description></item>"
        "</channel></rss>",
        encoding="utf-8",
    )
    # Stored by an older version that did not check URLs.
    engine.feed_store.add("http://[::1/", datetime.now(UTC))
    engine.add_feed(str(feed_file))
    r = httpx.post(server.url + "/api/v1/feeds/poll", headers=_auth())
    assert r.status_code == 200, r.text
    polls = {p["url"]: p for p in r.json()["feeds"]}
    assert polls["http://[::1/"]["status"] == "error"
    assert "malformed URL" in polls["http://[::1/"]["error"]
    assert polls[feed_file.resolve().as_uri()]["status"] == "ok"
    assert polls[feed_file.resolve().as_uri()]["counts"]["accepted"] == 1
    feeds = {f["url"]: f for f in httpx.get(server.url + "/api/v1/feeds").json()["feeds"]}
    assert feeds["http://[::1/"]["error_count"] == 1
    gone = httpx.delete(
        server.url + "/api/v1/feeds", params={"url": "http://[::1/"}, headers=_auth()
    )
    assert gone.status_code == 200


# -- one id twice ------------------------------------------------------------------------
def _rev(engine: Engine, doc_id: str) -> int:
    row = engine.store.connection().execute("SELECT rev FROM documents WHERE id = ?", (doc_id,))
    return int(row.fetchone()[0])


def test_the_same_id_twice_in_one_file_last_one_wins_once(engine: Engine, tmp_path: Path) -> None:
    first = _doc(1, paragraphs=["第一版：芯片出口管制的消息。"])
    second = _doc(1, paragraphs=["第二版：芯片出口管制的消息，内容已更新。"])
    path = write_jsonl(tmp_path / "a.jsonl", [first, _doc(2), second])
    report = engine.ingest_paths([path])
    assert report.counts["accepted"] == 2 and report.counts["skipped"] == 1
    assert report.counts["updated"] == 0
    [skipped] = [r for r in report.results if r.outcome == "skipped"]
    assert skipped.origin.endswith("a.jsonl:1") and "superseded by line 3" in skipped.reason
    assert engine.document("d1").paragraphs[0].text.startswith("第二版")
    rev = _rev(engine, "d1")
    again = engine.ingest_paths([path])
    assert again.counts["unchanged"] == 2 and again.counts["skipped"] == 1
    assert again.counts["updated"] == again.counts["accepted"] == 0
    assert _rev(engine, "d1") == rev


def test_the_same_url_twice_in_one_request_last_one_wins_once(server: LiveServer) -> None:
    url = "https://example.cn/story/1"
    docs = [
        {"url": url, "title": "旧标题", "text": "芯片出口管制的旧版本。"},
        {"url": url, "title": "新标题", "text": "芯片出口管制的新版本。"},
    ]
    for expected in ("accepted", "unchanged"):
        data = _post_json(server.url + "/api/v1/documents", {"documents": docs}).json()
        assert data["counts"][expected] == 1 and data["counts"]["skipped"] == 1
        assert data["counts"]["updated"] == 0
    found = httpx.get(server.url + "/api/v1/search", params={"q": "芯片出口管制"}).json()
    assert [h["title"] for h in found["results"]] == ["新标题"]
