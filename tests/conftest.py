"""Shared fixtures: temp homes, engines on real SQLite files, a live server on 127.0.0.1."""

from __future__ import annotations

import contextlib
import http.server
import json
import os
import socket
import subprocess
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from starlette.types import ASGIApp

from newsdesk import Engine, load_settings, open_engine
from newsdesk.web.app import create_app

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
OPENSEARCH_SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "opensearch.sh"
IN_CI = os.environ.get("CI", "").strip().lower() in ("1", "true", "yes")
# Index aliases this test run creates on the node start with this (and are dropped).
OS_PREFIX = f"nd-test-{os.getpid()}"


def write_jsonl(path: Path, rows: list[dict[str, Any] | str]) -> Path:
    with path.open("w", encoding="utf-8") as fh:
        for row in rows:
            fh.write(row if isinstance(row, str) else json.dumps(row, ensure_ascii=False))
            fh.write("\n")
    return path


@pytest.fixture
def home(tmp_path: Path) -> Path:
    return tmp_path / "home"


@pytest.fixture
def engine(home: Path) -> Iterator[Engine]:
    with open_engine(load_settings(home=home, environ={})) as eng:
        yield eng


# Test documents that are not news: hostile markup the pages must show as text. They
# live here, not in the sample corpus a new user's first page shows.
HOSTILE = Path(__file__).parent / "fixtures" / "hostile.jsonl"


@pytest.fixture(scope="session")
def sample_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A home with the bundled sample corpus (and the hostile fixtures) ingested once."""
    home = tmp_path_factory.mktemp("sample") / "home"
    with open_engine(load_settings(home=home, environ={})) as eng:
        report = eng.ingest_sample()
        assert report.counts["failed"] == 0, report.problems
        assert eng.ingest_paths([HOSTILE]).counts["accepted"] == 1
    return home


@pytest.fixture(scope="session")
def sample_engine(sample_home: Path) -> Iterator[Engine]:
    with open_engine(load_settings(home=sample_home, environ={})) as eng:
        yield eng


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class LiveServer:
    def __init__(
        self,
        engine: Engine,
        wrap: Callable[[ASGIApp], ASGIApp] | None = None,
        *,
        wait_warm: bool = True,
    ) -> None:
        self.port = _free_port()
        self.wait_warm = wait_warm
        self.app = create_app(engine.settings, engine)
        app: ASGIApp = self.app
        if wrap is not None:
            app = wrap(app)
        config = uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> LiveServer:
        self.thread.start()
        # A safety net only (a loaded machine may take long): the wait is on the condition.
        deadline = time.monotonic() + 300
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("server did not start")
            time.sleep(0.05)
        # Ready means warm (/api/v1/health answers 503 warming_up until then).
        while self.wait_warm and not self.app.state.warm_up.wait(0.1):
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("server did not warm up")
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


@pytest.fixture(scope="session")
def live_server(sample_engine: Engine) -> Iterator[LiveServer]:
    with LiveServer(sample_engine) as server:
        yield server


# -- a scriptable HTTP server on 127.0.0.1 for fetch, page and feed tests ----------------
Route = tuple[int, dict[str, str], bytes]


class SiteServer:
    """Serves ``routes`` (path -> status, headers, body) on 127.0.0.1 and logs requests.

    A route may also be a callable taking the request headers and returning a route,
    so tests can answer conditional requests with 304.
    """

    def __init__(self) -> None:
        self.routes: dict[str, Any] = {}
        self.requests: list[tuple[str, dict[str, str]]] = []
        site = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                headers = {k.lower(): v for k, v in self.headers.items()}
                site.requests.append((self.path, headers))
                route = site.routes.get(self.path)
                if callable(route):
                    route = route(headers)
                if route is None:
                    route = (404, {"Content-Type": "text/plain"}, b"not found")
                status, extra, body = route
                if status == 0:  # a server that accepts and then never answers
                    time.sleep(float(extra.get("sleep", "5")))
                    return
                self.send_response(status)
                for key, value in extra.items():
                    self.send_header(key, value)
                if "Content-Length" not in extra:
                    self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def __enter__(self) -> SiteServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def site() -> Iterator[SiteServer]:
    with SiteServer() as server:
        yield server


# -- PostgreSQL: a live server started by the project's own script -------------------------
REPO = Path(__file__).resolve().parents[1]


def _start_postgres() -> str:
    """The URL of the test server's admin database (``make postgres`` does the same)."""
    script = REPO / "scripts" / "postgres.sh"
    try:
        done = subprocess.run(
            [str(script), "start"], capture_output=True, text=True, timeout=600, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        reason = f"cannot run {script}: {exc}"
    else:
        lines = done.stdout.strip().splitlines()
        if done.returncode == 0 and lines and lines[-1].startswith("postgresql://"):
            return lines[-1]
        reason = f"{script} start failed: {done.stderr.strip()[-600:]}"
    if IN_CI:
        pytest.fail(f"PostgreSQL is required in CI: {reason}")
    pytest.skip(f"PostgreSQL not available ({reason}); run `make postgres`")


@pytest.fixture(scope="session")
def postgres_server() -> str:
    return _start_postgres()


def _admin(server_url: str) -> Any:
    psycopg = pytest.importorskip("psycopg")
    return psycopg.connect(server_url, autocommit=True)


@pytest.fixture
def pg_url(postgres_server: str) -> Iterator[str]:
    """A fresh, empty database on the test server, dropped after the test."""
    name = f"t_{uuid.uuid4().hex[:12]}"
    with _admin(postgres_server) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    base = postgres_server.rsplit("/", 1)[0]
    try:
        yield f"{base}/{name}"
    finally:
        with _admin(postgres_server) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(params=["sqlite", "postgresql"])
def store_settings(request: pytest.FixtureRequest, tmp_path: Path) -> dict[str, Any]:
    """Settings overrides for each store backend: SQLite in the home, or a fresh database."""
    if request.param == "sqlite":
        return {}
    return {"store_url": request.getfixturevalue("pg_url")}


@pytest.fixture
def pg_databases(postgres_server: str) -> Iterator[Any]:
    """Make any number of fresh databases on the test server (dropped after the test)."""
    made: list[str] = []
    base = postgres_server.rsplit("/", 1)[0]

    def make() -> str:
        name = f"t_{uuid.uuid4().hex[:12]}"
        with _admin(postgres_server) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        made.append(name)
        return f"{base}/{name}"

    yield make
    with _admin(postgres_server) as conn:
        for name in made:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


# -- a live OpenSearch node ---------------------------------------------------------------
def opensearch_script(*args: str, timeout: float = 1200) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(OPENSEARCH_SCRIPT), *args], capture_output=True, text=True, timeout=timeout
    )


@pytest.fixture(scope="session")
def opensearch_url() -> Iterator[str]:
    """A live OpenSearch node: the one `make opensearch` runs, else one started here.

    ``NEWSDESK_TEST_OPENSEARCH_URL`` points the tests at another node. Without a JDK 17
    the OpenSearch tests skip, except in CI (``CI=true``), where they fail.
    """
    given = os.environ.get("NEWSDESK_TEST_OPENSEARCH_URL", "").strip()
    started = False
    if given:
        url = given
    else:
        running = opensearch_script("url", timeout=60)
        if running.returncode == 0 and running.stdout.strip():
            url = running.stdout.split()[-1]
        else:
            if not IN_CI and opensearch_script("java", timeout=60).returncode != 0:
                pytest.skip(
                    "the OpenSearch tests need a JDK 17 (apt-get install openjdk-17-jdk-headless)"
                )
            result = opensearch_script("start")
            if result.returncode != 0:
                pytest.fail(f"could not start OpenSearch: {result.stderr[-3000:]}")
            url = result.stdout.split()[-1]
            started = True
    yield url
    _drop_test_indexes(url)
    if started:
        opensearch_script("stop", timeout=120)


def _drop_test_indexes(url: str) -> None:
    import httpx

    with contextlib.suppress(httpx.HTTPError):
        httpx.delete(f"{url}/{OS_PREFIX}*", params={"expand_wildcards": "all"}, timeout=30)


def opensearch_env(url: str, name: str, **extra: str) -> dict[str, str]:
    """Settings (as NEWSDESK_* variables) for a home on the live node, alias ``name``."""
    env = {
        "NEWSDESK_INDEX_BACKEND": "opensearch",
        "NEWSDESK_OPENSEARCH_URL": url,
        "NEWSDESK_OPENSEARCH_INDEX": f"{OS_PREFIX}-{name}",
        "NEWSDESK_OPENSEARCH_REPLICAS": "0",
    }
    env.update(extra)
    return env


@pytest.fixture(scope="session", params=["local", "opensearch"])
def backend_env(request: pytest.FixtureRequest) -> dict[str, str]:
    """The settings of each index backend the search suite runs against."""
    if request.param == "local":
        return {}
    url = request.getfixturevalue("opensearch_url")
    return opensearch_env(url, "sample")


@pytest.fixture(scope="session")
def search_engine(sample_home: Path, backend_env: dict[str, str]) -> Iterator[Engine]:
    """The sample corpus behind each index backend (same store, same documents)."""
    with open_engine(load_settings(home=sample_home, environ=backend_env)) as eng:
        assert eng.lexical.pending() == 0
        yield eng
