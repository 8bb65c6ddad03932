"""The OpenSearch backend's own behaviour, on a live node: index lifecycle (alias,
rebuild and swap while searching, migrations), catch-up of new and changed documents,
bulk back-pressure, status, and what happens when the cluster is unreachable.

The search behaviour itself is the shared suite (test_search.py, test_hybrid.py), run
against both backends.
"""

from __future__ import annotations

import http.server
import json
import sys
import threading
from pathlib import Path
from typing import Any

import httpx
import pytest
from click.testing import CliRunner

from conftest import OS_PREFIX, LiveServer, _free_port, opensearch_env, write_jsonl
from newsdesk import SearchRequest, load_settings, open_engine
from newsdesk.cli import cli
from newsdesk.config import Settings
from newsdesk.errors import BackendUnavailable, ConfigError, SearchIndexError
from newsdesk.index.opensearch_client import ClusterConfig, connect
from newsdesk.index.opensearch_cluster import STATE, Migration, OpenSearchCluster

TOPICS = ["光刻机", "存储器", "封装测试", "设计软件", "晶圆代工", "功率器件"]


def _rows(n: int, start: int = 0, word: str = "芯片") -> list[dict[str, object]]:
    return [
        {
            "id": f"os{i}",
            "title": f"{word}{TOPICS[i % len(TOPICS)]}新闻{i}",
            "published_at": f"2025-09-{i % 28 + 1:02d}",
            "lang": "zh",
            "source": "甲报" if i % 2 else "乙报",
            "paragraphs": [
                f"{TOPICS[i % len(TOPICS)]}领域的{word}企业本月公布了{i * 10 + 7}项新计划。"
            ],
        }
        for i in range(start, start + n)
    ]


def _settings(home: Path, url: str, name: str, **extra: str) -> Settings:
    env = opensearch_env(url, name, **{"NEWSDESK_EMBEDDER": "hashing", **extra})
    return load_settings(home=home, environ=env)


def _alias_targets(url: str, alias: str) -> list[str]:
    return list(httpx.get(f"{url}/_alias/{alias}", timeout=10).json())


def test_new_changed_documents_and_vectors_reach_the_cluster(
    tmp_path: Path, opensearch_url: str
) -> None:
    settings = _settings(tmp_path / "home", opensearch_url, "catchup")
    rows = _rows(6)
    with open_engine(settings) as engine:
        report = engine.ingest_paths([write_jsonl(tmp_path / "a.jsonl", rows)])
        assert report.indexed == 6 and report.embedded == 6
        info = engine.status()["index"]
        assert (info["documents"], info["vectors"], info["dim"]) == (
            6,
            6,
            engine.vectors.embedder.dim,
        )  # type: ignore[union-attr]
        assert engine.search("芯片").retrieval == "hybrid"
        # Changed text: the new words are found, the old ones are gone.
        rows[0] = {**rows[0], "title": "全新的标题", "paragraphs": ["钠离子电池量产提速。"]}
        report = engine.ingest_paths([write_jsonl(tmp_path / "b.jsonl", rows)])
        assert report.counts["updated"] == 1 and report.indexed == 1
        lexical = SearchRequest(query="钠离子", mode="lexical")
        assert [h.document.id for h in engine.search(lexical).hits] == ["os0"]
        old = SearchRequest(query="光刻机", mode="lexical", limit=50)
        assert "os0" not in {h.document.id for h in engine.search(old).hits}
        # Its new vector was sent too: the document is nearest to its own new text.
        assert engine.searcher.vectors is not None
        qvec = engine.searcher.vectors.embed_query("全新的标题\n钠离子电池量产提速。")
        nearest = engine.searcher.vectors.search_batch(qvec[None, :], 1)[0]
        assert nearest[0].id == "os0" and nearest[0].score > 0.9
        assert engine.status()["index"]["vectors"] == 6
        assert engine.lexical.pending() == 0


def test_deferred_embeddings_reach_the_cluster_later(tmp_path: Path, opensearch_url: str) -> None:
    settings = _settings(tmp_path / "home", opensearch_url, "deferred")
    with open_engine(settings) as engine:
        engine.ingest_paths([write_jsonl(tmp_path / "a.jsonl", _rows(5))], defer_embeddings=True)
        assert engine.status()["index"]["vectors"] == 0
        assert engine.search("芯片").retrieval == "lexical"
        assert engine.embed_pending() == 5
        assert engine.status()["index"]["vectors"] == 5
        assert engine.search("芯片").retrieval == "hybrid"


def test_rebuild_swaps_the_alias_while_searches_keep_answering(
    tmp_path: Path, opensearch_url: str
) -> None:
    settings = _settings(tmp_path / "home", opensearch_url, "rebuild")
    with open_engine(settings) as engine:
        engine.ingest_paths([write_jsonl(tmp_path / "a.jsonl", _rows(300))])
        alias = settings.opensearch_index
        before = _alias_targets(opensearch_url, alias)
        expected = engine.search(SearchRequest(query="晶圆代工", mode="lexical", limit=100)).total
        assert expected > 10
        outcomes: list[int | str] = []
        stop = threading.Event()

        def load() -> None:
            with open_engine(settings) as reader:
                while not stop.is_set() and len(outcomes) < 5000:
                    try:
                        got = reader.search(
                            SearchRequest(query="晶圆代工", mode="lexical", limit=100)
                        )
                        outcomes.append(got.total)
                    except Exception as exc:  # counted, asserted below
                        outcomes.append(repr(exc))

        thread = threading.Thread(target=load)
        thread.start()
        try:
            ticks: list[int] = []
            assert engine.rebuild_index(ticks.append) == 300
            assert sum(ticks) == 300
        finally:
            stop.set()
            thread.join(timeout=60)
        after = _alias_targets(opensearch_url, alias)
        assert len(before) == len(after) == 1 and before != after
        # The old index is gone; every search during the rebuild got the full answer.
        assert httpx.get(f"{opensearch_url}/{before[0]}", timeout=10).status_code == 404
        assert outcomes and all(o == expected for o in outcomes), set(map(str, outcomes))
        info = engine.status()["index"]
        assert info["index"] == after[0] and info["documents"] == 300 and info["vectors"] == 300
        # Catch-up after the swap goes to the new index.
        engine.ingest_paths([write_jsonl(tmp_path / "b.jsonl", _rows(2, start=300))])
        assert engine.status()["index"]["documents"] == 302


def test_a_lost_index_is_rebuilt_by_the_next_catch_up(tmp_path: Path, opensearch_url: str) -> None:
    settings = _settings(tmp_path / "home", opensearch_url, "lost")
    with open_engine(settings) as engine:
        engine.ingest_paths([write_jsonl(tmp_path / "a.jsonl", _rows(8))])
    (index,) = _alias_targets(opensearch_url, settings.opensearch_index)
    httpx.delete(f"{opensearch_url}/{index}", timeout=30).raise_for_status()
    # The cluster was wiped: the store still knows everything, and says so.
    with open_engine(settings) as engine:
        info = engine.status()["index"]
        assert info["documents"] == 8 and info["vectors"] == 8
        assert engine.search("芯片").total == 8


def _cluster(
    url: str, store: Any, name: str, version: int, migrations: tuple[Migration, ...] = ()
) -> OpenSearchCluster:
    config = ClusterConfig(urls=(url,), alias=f"{OS_PREFIX}-{name}", replicas=0)
    return OpenSearchCluster(config, store, None, migrations=migrations, mapping_version=version)


def test_mapping_migrations(tmp_path: Path, opensearch_url: str) -> None:
    settings = _settings(tmp_path / "home", opensearch_url, "migrate", NEWSDESK_EMBEDDER="none")
    with open_engine(settings) as engine:
        engine.ingest_paths([write_jsonl(tmp_path / "a.jsonl", _rows(4))])
        store = engine.store
    with open_engine(settings) as engine:
        store = engine.store
        v1 = _cluster(opensearch_url, store, "migrate", 1)
        (index,) = _alias_targets(opensearch_url, v1.alias)
        # An additive change (a new field) is applied in place, on the same index.
        added = (Migration(1, {"topic": {"type": "keyword"}}),)
        v2 = _cluster(opensearch_url, store, "migrate", 2, added)
        assert v2.ensure() == index and v2.rebuild_reason == ""
        mapping = httpx.get(f"{opensearch_url}/{index}/_mapping", timeout=10).json()
        props = mapping[index]["mappings"]
        assert props["properties"]["topic"] == {"type": "keyword"}
        assert props["_meta"]["newsdesk"]["mapping_version"] == 2
        # A change to existing fields needs a rebuild: searches keep the old index
        # meanwhile, status says what to do, the rebuild moves to a new index.
        v3 = _cluster(opensearch_url, store, "migrate", 3, (Migration(2, None),))
        assert v3.ensure() == index and "newsdesk index rebuild" in v3.rebuild_reason
        assert v3.describe()["needs_rebuild"] == v3.rebuild_reason
        assert v3.rebuild() == 4
        assert v3.rebuild_reason == "" and v3.ensure() != index
        assert "-v3-" in v3.ensure()
        # An index from a newer newsdesk is refused with the reason.
        with pytest.raises(SearchIndexError, match="newer newsdesk"):
            _cluster(opensearch_url, store, "migrate", 2).ensure()


def test_an_index_named_like_the_alias_is_refused(tmp_path: Path, opensearch_url: str) -> None:
    name = f"{OS_PREFIX}-taken"
    httpx.put(f"{opensearch_url}/{name}", timeout=30).raise_for_status()
    settings = _settings(tmp_path / "home", opensearch_url, "taken")
    with open_engine(settings) as engine:
        with pytest.raises(SearchIndexError, match="opensearch_index"):
            engine.index_pending()
        assert "opensearch_index" in engine.status()["index"]["error"]


class _Proxy:
    """Forwards to the node; answers the first ``push_back`` bulk requests with 429 and,
    while ``reject_one``, marks one document of each bulk request as rejected."""

    def __init__(self, upstream: str, push_back: int = 0, reject_one: bool = False) -> None:
        self.upstream = upstream
        self.push_back = push_back
        self.reject_one = reject_one
        self.bulk_requests = 0
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def _forward(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                if "_bulk" in self.path:
                    proxy.bulk_requests += 1
                    if proxy.push_back > 0:
                        proxy.push_back -= 1
                        return self._answer(429, {"error": "es_rejected_execution_exception"})
                headers = {"Content-Type": self.headers.get("Content-Type", "application/json")}
                answer = httpx.request(
                    self.command,
                    proxy.upstream + self.path,
                    content=body,
                    headers=headers,
                    timeout=60,
                )
                data = answer.content
                if "_bulk" in self.path and proxy.reject_one:
                    parsed = answer.json()
                    item = next(iter(parsed["items"][0].values()))
                    item.update(
                        status=400,
                        error={"type": "mapper_parsing_exception", "reason": "bad field"},
                    )
                    parsed["errors"] = True
                    data = json.dumps(parsed).encode()
                self._raw(answer.status_code, data, answer.headers.get("content-type", ""))

            def _answer(self, status: int, payload: Any) -> None:
                self._raw(status, json.dumps(payload).encode(), "application/json")

            def _raw(self, status: int, data: bytes, ctype: str) -> None:
                self.send_response(status)
                self.send_header("Content-Type", ctype or "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(data)

            do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = _forward

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def __enter__(self) -> _Proxy:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def test_bulk_backs_off_when_the_cluster_pushes_back(
    tmp_path: Path, opensearch_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("newsdesk.index.opensearch_cluster.BULK_BACKOFF", (0.05, 0.2))
    with _Proxy(opensearch_url, push_back=2) as proxy:
        settings = _settings(tmp_path / "home", proxy.url, "pushback", NEWSDESK_EMBEDDER="none")
        with open_engine(settings) as engine:
            report = engine.ingest_paths([write_jsonl(tmp_path / "a.jsonl", _rows(20))])
            assert report.indexed == 20
            assert proxy.bulk_requests == 3  # two pushed back, the third accepted
            assert engine.status()["index"]["documents"] == 20


def test_a_rejected_document_stops_the_catch_up_with_its_reason(
    tmp_path: Path, opensearch_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("newsdesk.engine.INDEX_BUSY_RETRIES", (2, 0.01))
    with _Proxy(opensearch_url, reject_one=True) as proxy:
        settings = _settings(tmp_path / "home", proxy.url, "reject", NEWSDESK_EMBEDDER="none")
        with open_engine(settings) as engine:
            report = engine.ingest_paths([write_jsonl(tmp_path / "a.jsonl", _rows(5))])
            # Stored, not indexed: the watermark did not move past the refused batch.
            assert report.counts["accepted"] == 5 and report.indexed == 0
            assert report.index_deferred
            with pytest.raises(SearchIndexError, match="mapper_parsing_exception: bad field"):
                engine.index_pending()
            state = engine.store.index_state(STATE)
            assert state is not None and state[0] == 0
            assert engine.lexical.pending() == 5
            proxy.reject_one = False
            assert engine.index_pending() == 5 and engine.lexical.pending() == 0


def test_unreachable_cluster_gives_a_clear_message_and_loses_nothing(
    tmp_path: Path, opensearch_url: str
) -> None:
    dead = f"http://127.0.0.1:{_free_port()}"
    home = tmp_path / "home"
    down = _settings(home, dead, "down", NEWSDESK_OPENSEARCH_TIMEOUT="2")
    with open_engine(down) as engine:
        # Ingest stores the documents and says the index is behind.
        report = engine.ingest_paths([write_jsonl(tmp_path / "a.jsonl", _rows(4))])
        assert report.counts["accepted"] == 4 and report.index_deferred
        with pytest.raises(BackendUnavailable, match="unreachable") as caught:
            engine.search("芯片")
        assert dead in str(caught.value) and "index_backend = 'local'" in str(caught.value)
        info = engine.status()
        assert info["index"]["health"] == "unreachable" and info["documents"] == 4
        assert engine.document("os1").title  # reading documents needs no index
        with LiveServer(engine) as server:
            api = httpx.get(f"{server.url}/api/v1/search", params={"q": "芯片"}, timeout=30)
            assert api.status_code == 503
            assert api.json()["error"]["code"] == "unavailable"
            assert "unreachable" in api.json()["error"]["message"]
            page = httpx.get(f"{server.url}/", params={"q": "芯片"}, timeout=30)
            assert page.status_code == 503 and "unreachable" in page.text
    runner = CliRunner(env=opensearch_env(dead, "down", NEWSDESK_EMBEDDER="hashing"))
    result = runner.invoke(cli, ["--home", str(home), "search", "芯片"])
    assert result.exit_code == 1
    assert (
        result.output.startswith("error: the OpenSearch cluster at")
        and "Traceback" not in result.output
    )
    # The cluster is back: the next engine catches up with everything stored meanwhile.
    with open_engine(_settings(home, opensearch_url, "down")) as engine:
        assert engine.search("芯片").total == 4
        assert engine.status()["index"]["vectors"] == 4


def test_status_command_reports_cluster_health_and_counts(
    sample_home: Path, opensearch_url: str
) -> None:
    env = opensearch_env(opensearch_url, "sample")
    result = CliRunner(env=env).invoke(cli, ["--home", str(sample_home), "status", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    index = data["index"]
    assert data["backends"]["lexical_index"] == "opensearch"
    assert index["health"] in ("green", "yellow") and index["version"] == "2.19.1"
    assert index["documents"] == data["documents"] == index["vectors"] == 60
    assert index["alias"] == f"{OS_PREFIX}-sample" and index["index"].startswith(index["alias"])
    human = CliRunner(env=env).invoke(cli, ["--home", str(sample_home), "status"])
    assert "health=" in human.output and "documents=60" in human.output


def test_settings_are_validated_and_credentials_redacted(tmp_path: Path) -> None:
    for bad in (
        {"NEWSDESK_INDEX_BACKEND": "elastic"},
        {"NEWSDESK_OPENSEARCH_URL": "localhost:9200"},
        {"NEWSDESK_OPENSEARCH_INDEX": "Bad Name"},
        {"NEWSDESK_OPENSEARCH_SHARDS": "0"},
        {"NEWSDESK_OPENSEARCH_REPLICAS": "-2"},
    ):
        with pytest.raises(ConfigError):
            load_settings(home=tmp_path, environ=bad)
    env = {"NEWSDESK_OPENSEARCH_URL": "https://reader:s3cret@search.example:9200"}
    result = CliRunner(env=env).invoke(cli, ["--home", str(tmp_path), "config", "--json"])
    assert result.exit_code == 0
    assert json.loads(result.stdout)["opensearch_url"] == "https://reader:***@search.example:9200"
    assert "s3cret" not in result.output
    settings = load_settings(
        home=tmp_path, environ={"NEWSDESK_OPENSEARCH_URL": "http://a:1, http://b:2"}
    )
    assert ClusterConfig.from_settings(settings).urls == ("http://a:1", "http://b:2")


def test_missing_client_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "opensearchpy", None)
    with pytest.raises(BackendUnavailable, match=r"newsdesk\[opensearch\]"):
        connect(ClusterConfig(urls=("http://127.0.0.1:9",)))


def test_index_rebuild_command_names_the_new_index(tmp_path: Path, opensearch_url: str) -> None:
    home = tmp_path / "home"
    with open_engine(_settings(home, opensearch_url, "cli")) as engine:
        engine.ingest_paths([write_jsonl(tmp_path / "a.jsonl", _rows(3))])
    env = opensearch_env(opensearch_url, "cli", NEWSDESK_EMBEDDER="hashing")
    result = CliRunner(env=env).invoke(cli, ["--home", str(home), "index", "rebuild"])
    assert result.exit_code == 0, result.output
    (index,) = _alias_targets(opensearch_url, env["NEWSDESK_OPENSEARCH_INDEX"])
    said = " ".join(result.output.split())  # the console wraps long lines
    assert f"indexed 3 document(s) into {index} (alias {env['NEWSDESK_OPENSEARCH_INDEX']})" in said


def test_an_embedder_added_later_needs_a_rebuild_and_searches_meanwhile(
    tmp_path: Path, opensearch_url: str
) -> None:
    home = tmp_path / "home"
    with open_engine(_settings(home, opensearch_url, "later", NEWSDESK_EMBEDDER="none")) as engine:
        engine.ingest_paths([write_jsonl(tmp_path / "a.jsonl", _rows(6))])
        assert engine.status()["index"]["dim"] == 0
    with open_engine(_settings(home, opensearch_url, "later")) as engine:
        engine.embed_pending()
        info = engine.status()["index"]
        assert "has no vector field" in info["needs_rebuild"] and info["vectors"] == 0
        assert engine.search("芯片").retrieval == "lexical"  # words only, meanwhile
        assert engine.rebuild_index() == 6
        info = engine.status()["index"]
        assert "needs_rebuild" not in info and info["vectors"] == 6
        assert engine.search("芯片").retrieval == "hybrid"


def test_a_reader_follows_a_rebuild_made_by_another_process(
    tmp_path: Path, opensearch_url: str
) -> None:
    home = tmp_path / "home"
    settings = _settings(home, opensearch_url, "follow")
    with open_engine(settings) as writer, open_engine(settings) as reader:
        writer.ingest_paths([write_jsonl(tmp_path / "a.jsonl", _rows(5))])
        assert reader.search("芯片").retrieval == "hybrid"
        old = reader.lexical.cluster.ensure()  # type: ignore[attr-defined]
        writer.rebuild_index()
        reader.refresh()  # what the web app does at most once a second
        new = reader.lexical.cluster.ensure()  # type: ignore[attr-defined]
        assert new != old and new == _alias_targets(opensearch_url, settings.opensearch_index)[0]
        results = reader.search("芯片")
        assert results.retrieval == "hybrid" and results.total == 5
