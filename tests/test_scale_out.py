"""Many workers and web servers on one PostgreSQL store, with faults.

Real processes throughout: ``newsdesk worker`` and ``newsdesk serve`` subprocesses
(each with its own home, as on separate machines) against a live PostgreSQL, feeds
and pages served on 127.0.0.1. Every wait is on a condition (with a generous
deadline that only catches a hang); nothing passes or fails on timing.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from conftest import REPO, SiteServer, write_jsonl
from newsfactory import CHARS, Item, rss, split_feeds, stories

psycopg = pytest.importorskip("psycopg")

pytestmark = pytest.mark.slow

DEADLINE = 300.0


def _env(url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("NEWSDESK_")}
    env.update(
        NEWSDESK_STORE_URL=url,
        NEWSDESK_EMBEDDER="hashing",
        NEWSDESK_INGEST_WORKERS="1",
        NEWSDESK_STORE_POOL_SIZE="4",
        # The feeds and pages are served on 127.0.0.1.
        NEWSDESK_FETCH_ALLOW_PRIVATE="1",
    )
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


# Every subprocess a test starts, so that a failing test leaves none running.
_RUNNING: list[subprocess.Popen[bytes]] = []


@pytest.fixture(autouse=True)
def _stop_leftovers() -> Iterator[None]:
    yield
    while _RUNNING:
        proc = _RUNNING.pop()
        if proc.poll() is None:
            proc.kill()
        proc.wait()


class Proc:
    """A newsdesk subprocess with its output in files."""

    def __init__(self, name: str, cmd: list[str], env: dict[str, str], logs: Path) -> None:
        self.name = name
        self.out = logs / f"{name}.out"
        self.err = logs / f"{name}.err"
        with self.out.open("wb") as out, self.err.open("wb") as err:
            self.proc = subprocess.Popen(cmd, stdout=out, stderr=err, env=env)
        _RUNNING.append(self.proc)

    def wait(self, timeout: float = DEADLINE) -> int:
        return self.proc.wait(timeout=timeout)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def report(self) -> dict[str, Any]:
        assert self.proc.returncode == 0, f"{self.name}: {self.err.read_text()[-3000:]}"
        data: dict[str, Any] = json.loads(self.out.read_text())
        return data


def worker(home: Path, url: str, logs: Path, name: str, *extra: str) -> Proc:
    args = ["worker", "--until-idle", "--idle-sleep", "0.1", "--json", *extra]
    return Proc(name, _cli(home, *args), _env(url), logs)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def server(home: Path, url: str, logs: Path, name: str) -> tuple[Proc, str]:
    port = _free_port()
    proc = Proc(name, _cli(home, "serve", "--port", str(port)), _env(url), logs)
    base = f"http://127.0.0.1:{port}"
    wait_for(lambda: _healthy(base), f"{name} to answer", proc)
    return proc, base


def _healthy(base: str) -> bool:
    try:
        return httpx.get(f"{base}/api/v1/health", timeout=5).status_code == 200
    except httpx.HTTPError:
        return False


def wait_for(check: Callable[[], bool], what: str, proc: Proc | None = None) -> None:
    deadline = time.monotonic() + DEADLINE
    while not check():
        if proc is not None and proc.proc.poll() is not None:
            raise AssertionError(f"{proc.name} exited: {proc.err.read_text()[-3000:]}")
        assert time.monotonic() < deadline, f"gave up waiting for {what}"
        time.sleep(0.2)


class SearchLoad:
    """Clients searching the servers in turn until stopped (at most ``limit`` requests)."""

    def __init__(self, bases: list[str], queries: list[str], clients: int = 2, limit: int = 3000):
        self.bases = bases
        self.queries = queries
        self.limit = limit
        self.done = threading.Event()
        self.ok = 0
        self.errors: list[str] = []
        self._lock = threading.Lock()
        self._threads = [threading.Thread(target=self._run, args=(i,)) for i in range(clients)]

    def __enter__(self) -> SearchLoad:
        for t in self._threads:
            t.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.done.set()
        for t in self._threads:
            t.join(timeout=60)

    def _run(self, n: int) -> None:
        with httpx.Client(timeout=30) as client:
            i = n
            while not self.done.is_set():
                with self._lock:
                    if self.ok + len(self.errors) >= self.limit:
                        return
                base = self.bases[i % len(self.bases)]
                q = self.queries[i % len(self.queries)]
                i += 1
                try:
                    r = client.get(f"{base}/api/v1/search", params={"q": q, "limit": 5})
                    good = r.status_code == 200 and "results" in r.json()
                    problem = "" if good else f"{r.status_code} {r.text[:200]}"
                except httpx.HTTPError as exc:
                    problem = f"{type(exc).__name__}: {exc}"
                with self._lock:
                    if problem:
                        self.errors.append(problem)
                    else:
                        self.ok += 1
                time.sleep(0.02)


def db_rows(url: str, sql: str) -> list[tuple[Any, ...]]:
    with psycopg.connect(url) as conn:
        return list(conn.execute(sql).fetchall())


def same_story_url(url: str) -> str:
    """A verbatim mirror is the same document as outlet 0's (whichever came first is kept)."""
    return url.replace("/mirror0/", "/o0/")


def groups(url: str) -> set[frozenset[str]]:
    """The syndicated groups: the set of (mirror-folded) URLs of each story."""
    rows = db_rows(url, "SELECT story_id, url FROM documents")
    by_story: dict[str, set[str]] = {}
    for story, doc_url in rows:
        by_story.setdefault(story, set()).add(same_story_url(doc_url))
    return {frozenset(v) for v in by_story.values()}


def assert_exactly_once(url: str, expected_urls: set[str]) -> None:
    rows = db_rows(url, "SELECT url, content_hash FROM documents")
    urls = [same_story_url(r[0]) for r in rows]
    assert len(urls) == len(set(urls)), "a document was stored twice"
    assert len({r[1] for r in rows}) == len(rows), "the same content was stored twice"
    assert set(urls) == expected_urls


# -- inputs -----------------------------------------------------------------------------
class Inputs:
    """Feeds, pages and files for N stories, overlapping as real inputs do.

    Feeds carry outlet 0 and 1 and verbatim mirrors (each item in two feeds); outlet
    2's copies are web pages queued by URL; two JSONL files repeat outlet 0's items.
    """

    def __init__(self, site: SiteServer, folder: Path, n_stories: int, seed: int) -> None:
        self.stories = stories(n_stories, copies=2, exact=1, seed=seed)
        in_feeds = [it for s in self.stories for it in s if "/o2/" not in it.link]
        self.feed_urls = []
        for i, items in enumerate(split_feeds(in_feeds, 6, overlap=1)):
            site.routes[f"/feeds/{i}.xml"] = (
                200,
                {"Content-Type": "application/rss+xml"},
                rss(items, f"feed {i}"),
            )
            self.feed_urls.append(f"{site.url}/feeds/{i}.xml")
        self.jobs: list[str] = []
        for s in self.stories:
            page = s[2]
            path = f"/pages/{s[0].story}.html"
            site.routes[path] = (200, {"Content-Type": "text/html; charset=utf-8"}, page.page())
            self.jobs.append(f"{site.url}{path}")
        originals = [s[0] for s in self.stories]
        for i in range(2):
            rows: list[dict[str, Any] | str] = [_line(it) for it in originals[i::2]]
            self.jobs.append(str(write_jsonl(folder / f"outlet0-{i}.jsonl", rows)))

    def urls(self) -> set[str]:
        """Every URL that must be stored: outlets 0-2 (a page's canonical URL is its
        outlet's link; mirrors are duplicates of outlet 0)."""
        return {it.link for s in self.stories for it in s[:3]}


def _line(item: Item) -> dict[str, Any]:
    return {
        "url": item.link,
        "title": item.title,
        "paragraphs": list(item.paragraphs),
        "published_at": item.published.isoformat(),
    }


def queue_inputs(home: Path, url: str, inputs: Inputs) -> None:
    env = _env(url)
    for feed in inputs.feed_urls:
        done = subprocess.run(_cli(home, "feeds", "add", feed), env=env, capture_output=True)
        assert done.returncode == 0, done.stderr
    done = subprocess.run(
        _cli(home, "ingest", "--queue", *inputs.jobs), env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr


# -- the tests ----------------------------------------------------------------------------
def test_three_workers_two_servers_every_document_once_same_groups(
    pg_databases: Callable[[], str], site: SiteServer, tmp_path: Path
) -> None:
    logs = tmp_path / "logs"
    logs.mkdir()
    inputs = Inputs(site, tmp_path, n_stories=24, seed=11)
    shared, reference = pg_databases(), pg_databases()

    # The reference: one worker alone.
    queue_inputs(tmp_path / "ref-q", reference, inputs)
    solo = worker(tmp_path / "ref-w", reference, logs, "solo")
    solo.wait()
    assert solo.report()["jobs_failed"] == 0

    # Two web servers first (empty store), then three workers while the servers are searched.
    servers = [server(tmp_path / f"s{i}", shared, logs, f"server{i}") for i in range(2)]
    queue_inputs(tmp_path / "q", shared, inputs)
    queries = [s[0].title[:6] for s in inputs.stories] + ["报道", "转载 外电"]
    try:
        with SearchLoad([base for _, base in servers], queries) as load:
            workers = [worker(tmp_path / f"w{i}", shared, logs, f"worker{i}") for i in range(3)]
            for w in workers:
                w.wait()
            reports = [w.report() for w in workers]
            total = db_rows(shared, "SELECT COUNT(*) FROM documents")[0][0]

            # Both servers catch their own index copy up with the store.
            def caught_up(base: str) -> bool:
                httpx.get(f"{base}/api/v1/search", params={"q": "报道"}, timeout=30)
                health = httpx.get(f"{base}/api/v1/health", timeout=30).json()
                return bool(health["indexed"] == health["documents"] == total)

            for proc, base in servers:
                wait_for(lambda base=base: caught_up(base), f"{base} to catch up", proc)
        assert load.errors == [], load.errors[:5]
        assert load.ok > 0
    finally:
        for proc, _ in servers:
            proc.stop()

    assert sum(r["jobs_done"] for r in reports) == len(inputs.jobs)
    assert sum(r["feeds_polled"] for r in reports) == len(inputs.feed_urls)
    assert all(r["jobs_failed"] == 0 for r in reports)
    assert sum(1 for r in reports if r["jobs_done"] + r["feeds_polled"]) >= 2  # shared work
    expected = inputs.urls()
    assert len(expected) == 3 * len(inputs.stories)
    assert_exactly_once(shared, expected)
    assert_exactly_once(reference, expected)
    assert groups(shared) == groups(reference)
    # And the groups are the stories: each outlet's copy joined its story.
    truth = {frozenset(it.link for it in s[:3]) for s in inputs.stories}
    assert groups(shared) == truth


def _big_files(folder: Path, n_files: int, per_file: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    paths = []
    for f in range(n_files):
        rows: list[dict[str, Any] | str] = []
        for i in range(per_file):
            paragraphs = [
                "".join(rng.choice(CHARS) for _ in range(rng.randint(60, 120))) + "。"
                for _ in range(3)
            ]
            rows.append(
                {
                    "url": f"https://bulk.test/{f}/{i}",
                    "title": f"第{f}-{i}号批量报道" + "".join(rng.choice(CHARS) for _ in range(6)),
                    "paragraphs": paragraphs,
                    "published_at": "2025-09-01T08:00:00+00:00",
                }
            )
        paths.append(str(write_jsonl(folder / f"bulk{f}.jsonl", rows)))
    return paths


def test_kill_9_a_worker_mid_batch_nothing_lost_nothing_twice(pg_url: str, tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    logs.mkdir()
    files = _big_files(tmp_path, n_files=3, per_file=700, seed=4)
    total = 3 * 700
    done = subprocess.run(
        _cli(tmp_path / "q", "ingest", "--queue", *files), env=_env(pg_url), capture_output=True
    )
    assert done.returncode == 0, done.stderr
    lease = ["--lease", "3s"]
    victim = worker(tmp_path / "w0", pg_url, logs, "victim", *lease)
    survivor = worker(tmp_path / "w1", pg_url, logs, "survivor", *lease)

    def count() -> int:
        return int(db_rows(pg_url, "SELECT COUNT(*) FROM documents")[0][0])

    # Kill the victim while it is in the middle of its file.
    def victim_mid_file() -> bool:
        held = db_rows(
            pg_url,
            "SELECT COUNT(*) FROM jobs WHERE state = 'running' AND lease_owner LIKE"
            f" '%:{victim.proc.pid}:%'",
        )[0][0]
        return bool(held) and count() > 300

    wait_for(victim_mid_file, "the victim to be mid-file", victim)
    os.kill(victim.proc.pid, signal.SIGKILL)
    victim.wait()
    at_kill = count()
    assert at_kill < total
    survivor.wait()
    report = survivor.report()
    assert report["jobs_failed"] == 0
    assert count() == total
    urls = {f"https://bulk.test/{f}/{i}" for f in range(3) for i in range(700)}
    assert_exactly_once(pg_url, urls)
    jobs = db_rows(pg_url, "SELECT state, attempts FROM jobs ORDER BY id")
    assert [s for s, _ in jobs] == ["done"] * 3
    assert max(a for _, a in jobs) == 2  # the victim's job was taken over once

    def status() -> dict[str, Any]:
        done = subprocess.run(
            _cli(tmp_path / "q", "status", "--json"), env=_env(pg_url), capture_output=True
        )
        assert done.returncode == 0, done.stderr
        info: dict[str, Any] = json.loads(done.stdout)
        return info

    info = status()
    assert info["queue"]["jobs"]["done"] == 3 and info["leases"] == []
    assert info["lag"]["oldest_due_job_s"] is None

    # It never said goodbye: status reports it lost once its heartbeat is old enough.
    def victim_lost() -> bool:
        (dead,) = [w for w in status()["workers"] if f":{victim.proc.pid}:" in w["id"]]
        return dead["state"] == "running" and dead["alive"] is False

    wait_for(victim_lost, "status to report the killed worker lost")


@pytest.fixture
def own_postgres() -> Iterator[tuple[str, dict[str, str]]]:
    """A PostgreSQL cluster of this test's own, so stopping it disturbs no other test."""
    folder = Path(f"/tmp/newsdesk-pg-fault-{uuid.uuid4().hex[:8]}")
    env = {**os.environ, "NEWSDESK_PG_DIR": str(folder)}
    script = str(REPO / "scripts" / "postgres.sh")
    started = subprocess.run([script, "start"], env=env, capture_output=True, text=True)
    if started.returncode != 0:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"cannot start PostgreSQL: {started.stderr}")
        pytest.skip(f"cannot start PostgreSQL: {started.stderr[-300:]}")
    try:
        yield started.stdout.strip().splitlines()[-1], env
    finally:
        subprocess.run([script, "stop"], env=env, capture_output=True)
        shutil.rmtree(folder, ignore_errors=True)
        Path(f"{folder}.lock").unlink(missing_ok=True)


def test_postgres_stopped_for_seconds_workers_recover(
    own_postgres: tuple[str, dict[str, str]], site: SiteServer, tmp_path: Path
) -> None:
    url, pg_env = own_postgres
    logs = tmp_path / "logs"
    logs.mkdir()
    files = _big_files(tmp_path, n_files=4, per_file=500, seed=8)
    news = [it for s in stories(10, copies=1, exact=0, seed=2) for it in s]
    site.routes["/feed.xml"] = (200, {"Content-Type": "application/rss+xml"}, rss(news))
    env = _env(url)
    for args in (("feeds", "add", f"{site.url}/feed.xml"), ("ingest", "--queue", *files)):
        done = subprocess.run(_cli(tmp_path / "q", *args), env=env, capture_output=True)
        assert done.returncode == 0, done.stderr
    lease = ["--lease", "5s"]
    workers = [worker(tmp_path / f"w{i}", url, logs, f"worker{i}", *lease) for i in range(2)]

    def count() -> int:
        try:
            return int(db_rows(url, "SELECT COUNT(*) FROM documents")[0][0])
        except psycopg.OperationalError:
            return 0

    wait_for(lambda: count() > 200, "the workers to store something", workers[0])
    script = str(REPO / "scripts" / "postgres.sh")
    stopped = subprocess.run([script, "stop"], env=pg_env, capture_output=True, text=True)
    assert stopped.returncode == 0, stopped.stderr
    time.sleep(4)  # the outage itself (not a pass criterion)
    restarted = subprocess.run([script, "start"], env=pg_env, capture_output=True, text=True)
    assert restarted.returncode == 0, restarted.stderr
    assert restarted.stdout.strip().splitlines()[-1] == url  # the same server again
    for w in workers:
        w.wait()
    reports = [w.report() for w in workers]
    assert sum(r["store_outages"] for r in reports) >= 1
    assert all(r["jobs_failed"] == 0 for r in reports)
    expected = {f"https://bulk.test/{f}/{i}" for f in range(4) for i in range(500)}
    expected |= {it.link for it in news}
    assert_exactly_once(url, expected)
    states = db_rows(url, "SELECT state FROM jobs")
    assert [s for (s,) in states] == ["done"] * 4
    feed = db_rows(url, "SELECT last_status, lease_owner FROM feeds")
    assert feed == [("ok", "")]
