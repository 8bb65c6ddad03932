"""The API against its own OpenAPI schema: declared models, the error envelope on every
route, ``Allow`` on 405, and schemathesis generating requests from the schema.

Schemathesis runs against a real server on 127.0.0.1, with a fixed seed and a small
number of examples per operation, so the run is bounded and repeatable. The engine behind it
resolves every host name to 127.0.0.1, which the fetch guard refuses: generated URLs
never leave the machine (not even as a DNS query).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from conftest import LiveServer, write_jsonl
from newsdesk import Engine, load_settings, open_engine

TOKEN = "schema-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture(scope="module")
def api_engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    root = tmp_path_factory.mktemp("openapi")
    settings_ = load_settings(
        home=root / "home",
        overrides={"api_token": TOKEN, "embedder": "hashing", "max_request_bytes": 200_000},
        environ={},
    )
    docs = [
        {
            "id": f"doc-{i}",
            "title": f"芯片出口管制第{i}篇",
            "source": "样例社",
            "published_at": f"2025-10-{10 + i}T08:00:00+08:00",
            "paragraphs": [f"芯片出口管制涉及{i}家企业，投资{i * 10}亿元。", "第二段内容。"],
        }
        for i in range(3)
    ]
    with open_engine(settings_, resolver=lambda host, port: ["127.0.0.1"]) as engine:
        engine.ingest_paths([write_jsonl(root / "docs.jsonl", docs)])
        yield engine


@pytest.fixture(scope="module")
def api_server(api_engine: Engine) -> Iterator[LiveServer]:
    with LiveServer(api_engine) as server:
        yield server


@pytest.fixture(scope="module")
def api_schema(api_server: LiveServer) -> Any:
    spec = httpx.get(api_server.url + "/api/v1/openapi.json").json()
    return schemathesis.openapi.from_dict(spec)


CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    negative_data_rejection,
]


def _operations(schema: Any) -> list[Any]:
    return [result.ok() for result in schema.get_all_operations()]


@pytest.mark.slow
@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_api_conforms_to_its_schema(
    api_schema: Any, api_server: LiveServer, mode: GenerationMode
) -> None:
    with requests.Session() as session:
        _conforms(api_schema, mode, session, api_server.url)


def _conforms(api_schema: Any, mode: GenerationMode, session: requests.Session, url: str) -> None:
    """Every operation, valid and invalid requests, a few examples each, fixed seed.

    (Driven through strategies rather than schemathesis' pytest plugin, whose
    fixture-based loader does not run on this pytest.)
    """
    operations = _operations(api_schema)
    assert len(operations) >= 14
    tried = 0
    for operation in operations:

        @settings(
            max_examples=8,
            derandomize=True,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        @given(case=operation.as_strategy(generation_mode=mode))
        def conforms(case: Any) -> None:
            case.call_and_validate(url, session=session, headers=AUTH, checks=CHECKS)

        try:
            conforms()
        except Unsatisfiable:
            # No invalid request exists for an operation without parameters or body.
            assert mode is GenerationMode.NEGATIVE, operation.label
            continue
        tried += 1
    assert tried >= (14 if mode is GenerationMode.POSITIVE else 6), tried


def test_every_route_declares_its_models_and_the_envelope(api_server: LiveServer) -> None:
    spec = httpx.get(api_server.url + "/api/v1/openapi.json").json()
    envelope = "#/components/schemas/ErrorEnvelope"
    operations = [
        (path, method, op) for path, ops in spec["paths"].items() for method, op in ops.items()
    ]
    assert len(operations) >= 14
    for path, method, op in operations:
        responses = op["responses"]
        ok = responses["200"]["content"]["application/json"]["schema"]
        assert ok.get("$ref", "").startswith("#/components/schemas/"), (path, method, ok)
        errors = {s: r for s, r in responses.items() if s != "200"}
        assert "500" in errors, (path, method)
        if op.get("parameters") or op.get("requestBody"):
            assert "422" in errors, (path, method)
        for status, response in errors.items():
            ref = response["content"]["application/json"]["schema"]["$ref"]
            assert ref == envelope, (path, method, status)
        writes = method != "get"
        if writes:
            assert {"401", "403", "413"} <= set(errors), (path, method)
        if "{doc_id}" in path or (path == "/api/v1/feeds" and method == "delete"):
            assert "404" in errors, (path, method)
    # FastAPI's own validation-error shape is never declared: ours is the only one.
    assert "HTTPValidationError" not in spec["components"]["schemas"]
    assert spec["components"]["schemas"]["SearchOut"]["properties"]["results"]["items"]


def test_405_names_every_allowed_method(api_server: LiveServer) -> None:
    with httpx.Client(base_url=api_server.url) as client:
        r = client.put("/api/v1/feeds", headers=AUTH)
        assert r.status_code == 405
        assert r.headers["allow"] == "DELETE, GET, POST"
        assert r.json()["error"]["code"] == "method_not_allowed"
        r = client.delete("/api/v1/search", headers=AUTH)
        assert r.status_code == 405 and r.headers["allow"] == "GET"
        r = client.post("/documents/doc-1")
        assert r.status_code == 405 and r.headers["allow"] == "GET"


def test_write_routes_answer_401_and_403_in_the_envelope(
    api_server: LiveServer, tmp_path: Path
) -> None:
    r = httpx.post(api_server.url + "/api/v1/documents", json={"title": "x", "text": "y"})
    assert r.status_code == 401 and r.json()["error"]["code"] == "unauthorized"
    readonly = load_settings(home=tmp_path / "ro", overrides={"embedder": "none"}, environ={})
    with open_engine(readonly) as engine, LiveServer(engine) as ro:
        r = httpx.post(ro.url + "/api/v1/feeds/poll", headers=AUTH)
        assert r.status_code == 403 and r.json()["error"]["code"] == "forbidden"
