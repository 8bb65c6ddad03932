"""Embedders: the hashing test embedder, the bundled default, and an OpenAI-compatible
server (a real HTTP server on 127.0.0.1 speaking the /v1/embeddings protocol)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from conftest import write_jsonl
from newsdesk import SearchRequest, load_settings, open_engine
from newsdesk.embed.hashing import HashingEmbedder
from newsdesk.embed.http import HTTPEmbedder
from newsdesk.embed.local import USEEmbedder
from newsdesk.errors import BackendUnavailable, ConfigError


def test_hashing_embedder_is_deterministic_unit_and_similarity_aware() -> None:
    emb = HashingEmbedder(dim=128)
    a = emb.embed(["稀土出口管制", "稀土出口管制升级", "秋粮收获进度过半"])
    assert a.shape == (3, 128) and a.dtype == np.float32
    assert np.allclose(np.linalg.norm(a, axis=1), 1.0, atol=1e-5)
    assert np.array_equal(
        a, HashingEmbedder(dim=128).embed(["稀土出口管制", "稀土出口管制升级", "秋粮收获进度过半"])
    )
    assert a[0] @ a[1] > a[0] @ a[2]
    assert emb.embed([]).shape == (0, 128)


def test_default_embedder_maps_translations_close() -> None:
    emb = USEEmbedder()
    v = emb.embed(["稀土出口管制", "rare earth export controls", "秋季粮食丰收"], query=True)
    assert v.shape == (3, emb.dim)
    assert v[0] @ v[1] > v[0] @ v[2] + 0.1


class FakeServer:
    """A minimal OpenAI-compatible embeddings server built on the hashing embedder."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.auth: list[str | None] = []
        self.mode = "ok"
        emb = HashingEmbedder(dim=64)
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                outer.requests.append(body)
                outer.auth.append(self.headers.get("Authorization"))
                if self.path != "/v1/embeddings" or outer.mode == "500":
                    self.send_response(500 if outer.mode == "500" else 404)
                    self.end_headers()
                    return
                vectors = emb.embed(body["input"])
                data = [
                    {"object": "embedding", "index": i, "embedding": v.tolist()}
                    for i, v in enumerate(vectors)
                ]
                data.reverse()  # servers may answer out of order; index says where
                if outer.mode == "short":
                    data = data[:-1]
                payload = {"object": "list", "data": data, "model": body["model"]}
                raw = b"not json" if outer.mode == "garbage" else json.dumps(payload).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"


@pytest.fixture
def fake_server() -> Iterator[FakeServer]:
    server = FakeServer()
    server.thread.start()
    yield server
    if server.thread.is_alive():
        server.httpd.shutdown()
        server.httpd.server_close()


def test_http_embedder_against_a_local_server(fake_server: FakeServer) -> None:
    emb = HTTPEmbedder(fake_server.base_url, "fake-model", api_key="sekrit")
    texts = [f"第{i}条新闻" for i in range(70)]
    vectors = emb.embed(texts)
    assert vectors.shape == (70, 64) and emb.dim == 64 and emb.id == "http:fake-model"
    assert np.allclose(vectors, HashingEmbedder(dim=64).embed(texts), atol=1e-6)
    assert [len(r["input"]) for r in fake_server.requests] == [64, 6]
    assert fake_server.auth == ["Bearer sekrit"] * 2
    assert all(r["model"] == "fake-model" for r in fake_server.requests)


@pytest.mark.parametrize("mode", ["500", "garbage", "short"])
def test_http_embedder_errors_are_backend_unavailable(fake_server: FakeServer, mode: str) -> None:
    fake_server.mode = mode
    with pytest.raises(BackendUnavailable) as info:
        HTTPEmbedder(fake_server.base_url, "m").embed(["a", "b"])
    assert info.value.backend == "http"


def test_http_embedder_server_down_and_missing_settings() -> None:
    with pytest.raises(BackendUnavailable, match="failed"):
        HTTPEmbedder("http://127.0.0.1:9/v1", "m", timeout=2).embed(["a"])
    with pytest.raises(BackendUnavailable, match="embed_base_url"):
        HTTPEmbedder("", "m")


def test_engine_searches_with_the_http_embedder(fake_server: FakeServer, tmp_path: Path) -> None:
    settings = load_settings(
        home=tmp_path / "home",
        environ={
            "NEWSDESK_EMBEDDER": "http",
            "NEWSDESK_EMBED_BASE_URL": fake_server.base_url,
            "NEWSDESK_EMBED_MODEL": "fake-model",
            "NEWSDESK_EMBED_API_KEY": "sekrit",
            # Hashing vectors know no meaning; any positive similarity will do here.
            "NEWSDESK_SEMANTIC_FLOOR": "0.0",
        },
    )
    assert settings.to_json()["embed_api_key"] == "***"
    rows = [
        {"id": "a", "title": "稀土出口管制升级", "paragraphs": ["商务部宣布稀土出口管制措施。"]},
        {"id": "b", "title": "秋粮收获进度过半", "paragraphs": ["各地秋粮收获顺利推进。"]},
    ]
    with open_engine(settings) as engine:
        report = engine.ingest_paths([write_jsonl(tmp_path / "a.jsonl", rows)])
        assert report.embedded == 2
        status = engine.status()
        assert status["embedded"] == 2 and status["backends"]["embedder"] == "http:fake-model"
        results = engine.search(SearchRequest(query="稀土出口", mode="semantic", sort="relevance"))
        assert results.retrieval == "semantic"
        assert results.hits[0].document.id == "a"
        # The server goes away: search still answers, by words, and says so.
        fake_server.httpd.shutdown()
        fake_server.httpd.server_close()
        for mode in ("hybrid", "semantic"):
            down = engine.search(SearchRequest(query="稀土", mode=mode))
            assert down.retrieval == "lexical"
            assert [h.document.id for h in down.hits] == ["a"]


def test_unknown_embedder_is_a_config_error(tmp_path: Path) -> None:
    settings = load_settings(home=tmp_path, environ={"NEWSDESK_EMBEDDER": "word2vec"})
    with pytest.raises(ConfigError, match="embedder"):
        open_engine(settings)
    with pytest.raises(ConfigError, match="fusion"):
        load_settings(home=tmp_path, environ={"NEWSDESK_FUSION": "max"})
