"""A server says it is ready only when warm: health is 503 ``warming_up`` until then.

The tests hold the warm-up back with an event and wait on conditions (the warm-up's
own event, the health answer), never on wall-clock budgets.
"""

from __future__ import annotations

import threading
from pathlib import Path

import httpx
import pytest

from conftest import LiveServer
from newsdesk import Engine, load_settings, open_engine
from newsdesk.web.app import WarmUp
from newsdesk.web.schemas import ErrorEnvelope, HealthOut


@pytest.fixture
def small_engine(tmp_path: Path) -> Engine:
    settings = load_settings(home=tmp_path / "home", environ={}, overrides={"embedder": "hashing"})
    with open_engine(settings) as engine:
        engine.ingest_sample()
    return open_engine(settings)


def test_health_is_503_warming_up_until_warm(
    small_engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    release = threading.Event()
    warmed: list[str] = []
    real = small_engine.warm_up

    def held_warm_up(query: str = "新闻 news") -> None:
        assert release.wait(60)
        real(query)
        warmed.append(query)

    monkeypatch.setattr(small_engine, "warm_up", held_warm_up)
    with LiveServer(small_engine, wait_warm=False) as server:
        warm: WarmUp = server.app.state.warm_up
        ready: list[WarmUp] = []
        warm.on_ready = ready.append
        with httpx.Client(base_url=server.url, timeout=120) as client:
            cold = client.get("/api/v1/health")
            assert cold.status_code == 503
            assert cold.headers["Retry-After"] == "1"
            body = ErrorEnvelope.model_validate(cold.json())
            assert body.error.status == 503 and body.error.code == "warming_up"
            assert not warm.ready and ready == []
            # Other routes are served meanwhile (they pay the loading themselves).
            assert client.get("/api/v1/search", params={"q": "技术主权"}).status_code == 200

            release.set()
            assert warm.wait(120)
            warm_health = client.get("/api/v1/health")
            assert warm_health.status_code == 200
            health = HealthOut.model_validate(warm_health.json())
            assert health.ok and health.warm_up_error == "" and health.warm_up_seconds > 0
            assert warmed == ["新闻 news"] and ready == [warm]
            # The page templates were compiled by the warm-up.
            compiled = {key[1] for key, _ in (warm.templates.env.cache or {}).items()}
            assert {"search.html", "document.html"} <= compiled
    small_engine.close()


def test_a_failed_warm_up_still_ends_ready_and_says_why(
    small_engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(query: str = "") -> None:
        raise RuntimeError("embedding endpoint down")

    monkeypatch.setattr(small_engine, "warm_up", broken)
    with LiveServer(small_engine) as server:  # waits for the warm-up to end
        answer = httpx.get(server.url + "/api/v1/health", timeout=120)
        assert answer.status_code == 200
        assert answer.json()["warm_up_error"] == "RuntimeError: embedding endpoint down"
    small_engine.close()


def test_engine_warm_up_loads_the_vectors_and_runs_a_search(small_engine: Engine) -> None:
    assert small_engine.vectors is not None
    searches: list[str] = []
    real = small_engine.search

    def spy(request: object) -> object:
        searches.append(getattr(request, "query", ""))
        return real(request)  # type: ignore[arg-type]

    small_engine.search = spy  # type: ignore[assignment,method-assign]
    small_engine.warm_up()
    assert searches == ["新闻 news"]
    assert len(small_engine.vectors) == small_engine.store.count_documents()
    small_engine.close()
