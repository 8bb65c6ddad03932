"""Shared fixtures: temp homes, engines on real SQLite files, a live server on 127.0.0.1."""

from __future__ import annotations

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
    def __init__(self, engine: Engine, wrap: Callable[[ASGIApp], ASGIApp] | None = None) -> None:
        self.port = _free_port()
        app: ASGIApp = create_app(engine.settings, engine)
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
    if os.environ.get("CI", "").lower() == "true":
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
