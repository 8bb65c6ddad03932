"""``newsdesk serve --workers 2``: real processes sharing one port of 127.0.0.1.

Both workers answer searches, with the same results as a one-process server on the
same home; exactly one does the background work (here: embedding what an ingest
left without vectors); Ctrl-C stops them all. Every wait is on a condition, with a
generous deadline that only catches a hang.
"""

from __future__ import annotations

import contextlib
import fcntl
import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest

from newsdesk.engine import sample_corpus_path
from newsdesk.errors import ConfigError
from newsdesk.web.workers import LOCK_NAME, BackgroundRole, worker_count

pytestmark = pytest.mark.slow

DEADLINE = 300.0
QUERIES = ["rare earth export controls", "芯片", "central bank", '"interest rates"', "oil -gas"]


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("NEWSDESK_")}
    env["NEWSDESK_EMBEDDER"] = "hashing"
    return env


def _cli(home: Path, *args: str) -> list[str]:
    return [
        sys.executable,
        "-c",
        "from newsdesk.cli import main; main()",
        "--home",
        str(home),
        *args,
    ]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for(check: Callable[[], bool], what: str, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + DEADLINE
    while not check():
        assert proc.poll() is None, f"the server exited while waiting for {what}"
        assert time.monotonic() < deadline, f"gave up waiting for {what}"
        time.sleep(0.1)


class Server:
    """``newsdesk serve`` in its own process group (Ctrl-C reaches all of it)."""

    def __init__(self, home: Path, logs: Path, *extra: str) -> None:
        self.port = _free_port()
        self.err = logs
        with logs.open("wb") as err:
            self.proc = subprocess.Popen(
                _cli(home, "serve", "--port", str(self.port), *extra),
                env=_env(),
                stdout=subprocess.DEVNULL,
                stderr=err,
                start_new_session=True,
            )
        wait_for(self._healthy, "the server to be ready", self.proc)

    def connect(self) -> http.client.HTTPConnection:
        return http.client.HTTPConnection("127.0.0.1", self.port, timeout=120)

    def _healthy(self) -> bool:
        try:
            with contextlib.closing(self.connect()) as conn:
                return get(conn, "/api/v1/health")[0] == 200
        except OSError:
            return False

    def ctrl_c(self) -> int:
        os.killpg(self.proc.pid, signal.SIGINT)
        return self.proc.wait(timeout=DEADLINE)

    def kill(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()


def get(conn: http.client.HTTPConnection, path: str) -> tuple[int, dict[str, Any]]:
    conn.request("GET", path)
    response = conn.getresponse()
    return response.status, json.loads(response.read())


def results(conn: http.client.HTTPConnection) -> list[Any]:
    """Each query's results as compared: ids, scores, totals and retrieval."""
    out = []
    for q in QUERIES:
        status, body = get(conn, "/api/v1/search?" + urlencode({"q": q, "sort": "relevance"}))
        assert status == 200, body
        out.append(
            (
                body["total"],
                body["retrieval"],
                [(r["id"], r["score"], r["snippet"]) for r in body["results"]],
            )
        )
    return out


def _children(pid: int) -> list[int]:
    found = []
    for path in Path(f"/proc/{pid}/task").glob("*/children"):
        found += [int(x) for x in path.read_text().split()]
    return found


def _lock_is_free(home: Path) -> bool:
    with open(home / LOCK_NAME, "a+b") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        fcntl.flock(fh, fcntl.LOCK_UN)
        return True


def test_two_workers_serve_alike_and_one_does_the_background_work(tmp_path: Path) -> None:
    home = tmp_path / "home"
    # Stored and indexed, but left without vectors: the background work of a server.
    ingest = subprocess.run(
        _cli(home, "ingest", "--defer-embeddings", str(sample_corpus_path())),
        env=_env(),
        capture_output=True,
        text=True,
        timeout=DEADLINE,
    )
    assert ingest.returncode == 0, ingest.stderr

    server = Server(home, tmp_path / "two.log", "--workers", "2", "--threads", "2")
    try:
        workers = _children(server.proc.pid)
        # Connections until one to each worker (the kernel gives each to a worker).
        conns: dict[int, http.client.HTTPConnection] = {}
        health: dict[int, dict[str, Any]] = {}

        def both_answered() -> bool:
            conn = server.connect()
            status, body = get(conn, "/api/v1/health")
            assert status == 200, body
            if conns.setdefault(body["process_id"], conn) is not conn:
                conn.close()
            health[body["process_id"]] = body
            return len(conns) == 2

        wait_for(both_answered, "both workers to answer", server.proc)
        assert sorted(conns) == sorted(p for p in workers if p in conns)
        assert not _lock_is_free(home)

        def caught_up() -> bool:
            for pid, conn in conns.items():
                health[pid] = get(conn, "/api/v1/health")[1]
            return all(h["without_vectors"] == 0 and not h["catching_up"] for h in health.values())

        wait_for(caught_up, "the embedding catch-up", server.proc)
        writers = [pid for pid, h in health.items() if h["background_work"]]
        assert len(writers) == 1, health
        log = server.err.read_text()
        assert log.count("ready (background work)") == 1, log
        assert log.count("ready (searches only)") == 1, log
        # The one that did not embed never caught up by itself: it read the vectors.
        reader = next(pid for pid in conns if pid not in writers)
        assert not health[reader]["catching_up"]

        # The other reads the vectors the writer made at its next refresh (at most once
        # a second, after a request, off the request's path).
        def both_hybrid() -> bool:
            path = "/api/v1/search?" + urlencode({"q": QUERIES[0]})
            return all(get(c, path)[1]["retrieval"] == "hybrid" for c in conns.values())

        wait_for(both_hybrid, "both workers to search by meaning", server.proc)
        # Both serve searches, alike.
        answers = {pid: results(conn) for pid, conn in conns.items()}
        first, second = answers.values()
        assert first == second
        assert all(r[1] == "hybrid" for r in first if r[2]), first
        assert any(r[2] for r in first)
        for conn in conns.values():
            conn.close()

        assert server.ctrl_c() == 0
        for pid in workers:
            assert not Path(f"/proc/{pid}").exists() or pid not in _children(os.getpid())
        assert _lock_is_free(home)
    finally:
        server.kill()

    single = Server(home, tmp_path / "one.log")
    try:
        conn = single.connect()
        assert get(conn, "/api/v1/health")[1]["background_work"] is True
        assert results(conn) == first
        conn.close()
        assert single.ctrl_c() == 0
    finally:
        single.kill()


def test_the_background_role_is_one_process_at_a_time(tmp_path: Path) -> None:
    first, second = BackgroundRole(tmp_path), BackgroundRole(tmp_path)
    assert first.try_take()
    assert first.try_take()  # held: still this one's
    assert not second.try_take()
    first.release()
    assert second.try_take()
    assert not first.try_take()
    second.release()


@pytest.mark.parametrize("value", ["0", "-1", "65", "two", "", "1.5"])
def test_bad_worker_counts_are_refused(value: str) -> None:
    with pytest.raises(ConfigError, match="--workers"):
        worker_count(value)


def test_worker_counts() -> None:
    assert worker_count("1") == 1
    assert worker_count(" 3 ") == 3
    assert worker_count("auto", cores=2) == 2
    assert worker_count("AUTO", cores=0) == 1


def test_when_the_background_worker_dies_another_process_takes_its_work(tmp_path: Path) -> None:
    home = tmp_path / "home"
    ingest = subprocess.run(
        _cli(home, "ingest", str(sample_corpus_path())),
        env=_env(),
        capture_output=True,
        text=True,
        timeout=DEADLINE,
    )
    assert ingest.returncode == 0, ingest.stderr
    server = Server(home, tmp_path / "two.log", "--workers", "2", "--threads", "2")
    try:
        roles: dict[int, bool] = {}

        def seen(want: int) -> Callable[[], bool]:
            def check() -> bool:
                # New connections reach either worker; searches make each refresh.
                with contextlib.closing(server.connect()) as conn:
                    assert get(conn, "/api/v1/search?q=chips")[0] == 200
                    status, body = get(conn, "/api/v1/health")
                assert status == 200, body
                roles[body["process_id"]] = body["background_work"]
                live = {p: r for p, r in roles.items() if Path(f"/proc/{p}").exists()}
                return len(live) >= want and sum(live.values()) == 1

            return check

        wait_for(seen(2), "both workers, one with the background work", server.proc)
        writer = next(p for p, r in roles.items() if r)
        os.kill(writer, signal.SIGKILL)
        roles.clear()
        # The survivor takes the lock at its next refresh, or uvicorn's replacement at
        # its start: either way exactly one live process has the work again.
        wait_for(lambda: not Path(f"/proc/{writer}").exists(), "the worker to die", server.proc)
        wait_for(seen(1), "another process to take the background work", server.proc)
        assert writer not in roles
        assert server.ctrl_c() == 0
        assert _lock_is_free(home)
    finally:
        server.kill()
