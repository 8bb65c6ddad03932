"""``newsdesk worker`` on SQLite and PostgreSQL: jobs, feeds, leases, retries, failures."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from conftest import SiteServer, write_jsonl
from newsdesk import Engine, load_settings, open_engine
from newsdesk.cli import cli
from newsdesk.errors import InputError
from newsdesk.worker import Worker, WorkerOptions, enqueue, feed_backoff, job_targets
from newsfactory import rss, stories

FAST = WorkerOptions(lease=timedelta(seconds=30), until_idle=True, idle_sleep=0.05, heartbeat=0.2)


def _settings(home: Path, store: dict[str, Any]) -> Any:
    # The feeds and pages of these tests are served on 127.0.0.1.
    overrides = {**store, "embedder": "hashing", "fetch_allow_private": True}
    return load_settings(home=home, environ={}, overrides=overrides)


@pytest.fixture
def make_engine(store_settings: dict[str, Any], tmp_path: Path) -> Iterator[Any]:
    """Engines on one store, each with its own home (as on separate machines)."""
    opened: list[Engine] = []

    def make(name: str = "a") -> Engine:
        engine = open_engine(_settings(tmp_path / name, store_settings))
        opened.append(engine)
        return engine

    yield make
    for engine in opened:
        engine.close()


def test_worker_drains_jobs_and_feeds_and_records_bad_inputs(
    make_engine: Any, site: SiteServer, tmp_path: Path
) -> None:
    (story_a, story_b, story_c) = stories(3, copies=1, exact=0)
    site.routes["/feed.xml"] = (200, {"Content-Type": "application/rss+xml"}, rss(story_a))
    site.routes["/page.html"] = (200, {"Content-Type": "text/html"}, story_b[0].page())
    lines: list[dict[str, Any] | str] = [
        {"id": "f1", "title": story_c[0].title, "paragraphs": list(story_c[0].paragraphs)},
        "{not json",
        {"id": "f2", "title": "", "paragraphs": []},
    ]
    jsonl = write_jsonl(tmp_path / "in.jsonl", lines)
    engine = make_engine()
    engine.add_feed(f"{site.url}/feed.xml")
    queued = enqueue(engine, [f"{site.url}/page.html", str(jsonl)])
    assert [new for _, new in queued] == [True, True]
    report = Worker(engine, FAST).run()
    assert report.feeds_polled == 1 and report.jobs_done == 2 and report.jobs_failed == 0
    assert report.counts["accepted"] == 4  # 2 feed items, the page, 1 good line
    status = engine.status()
    assert status["documents"] == 4
    assert status["queue"]["jobs"] == {"queued": 0, "running": 0, "done": 2, "failed": 0}
    assert status["leases"] == [] and status["workers"] == []  # it stopped
    done = {j.target: j for j in engine.jobs.list_jobs("done")}
    assert done[str(jsonl)].counts["failed"] == 2
    failures = engine.jobs.failures()
    job_id = done[str(jsonl)].id
    assert {(f.source, f.origin) for f in failures} == {
        (f"job:{job_id}", f"{jsonl}:2"),
        (f"job:{job_id}", f"{jsonl}:3"),
    }
    # Feeds are due again after the interval, not at once: the queue is idle.
    assert engine.feed_store.claim_due("someone", timedelta(seconds=5)) == []
    engine.refresh()
    assert engine.search(story_b[0].title).total >= 1


def test_two_workers_never_poll_one_feed_at_once(make_engine: Any, site: SiteServer) -> None:
    items = [it for s in stories(4, copies=0, exact=0, seed=3) for it in s]
    in_flight = [0]
    most = [0]
    lock = threading.Lock()

    def slow_feed(headers: dict[str, str]) -> tuple[int, dict[str, str], bytes]:
        with lock:
            in_flight[0] += 1
            most[0] = max(most[0], in_flight[0])
        time.sleep(0.5)
        with lock:
            in_flight[0] -= 1
        return 200, {"Content-Type": "application/rss+xml"}, rss(items)

    site.routes["/slow.xml"] = slow_feed
    first, second = make_engine("a"), make_engine("b")
    first.add_feed(f"{site.url}/slow.xml")
    reports: list[Any] = []
    threads = [
        threading.Thread(target=lambda e=e: reports.append(Worker(e, FAST).run()))
        for e in (first, second)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert len(reports) == 2
    assert most[0] == 1
    assert sum(r.feeds_polled for r in reports) == 1
    assert [p for p, _ in site.requests].count("/slow.xml") == 1
    assert first.status()["documents"] == 4


def test_a_dead_workers_job_is_taken_over_after_its_lease(make_engine: Any, tmp_path: Path) -> None:
    (story,) = stories(1, copies=0, exact=0, seed=5)
    path = write_jsonl(
        tmp_path / "one.jsonl",
        [{"id": "x1", "title": story[0].title, "paragraphs": list(story[0].paragraphs)}],
    )
    engine = make_engine()
    ((job, _),) = enqueue(engine, [str(path)])
    # A worker claims it and dies without a word (no renewals, no release).
    assert engine.jobs.claim("dead-worker", timedelta(seconds=1)) is not None
    report = Worker(engine, FAST).run()  # until idle: waits the lease out, takes the job
    assert report.jobs_done == 1
    final = engine.jobs.get(job.id)
    assert final is not None and final.state == "done" and final.attempts == 2
    assert engine.status()["documents"] == 1


def test_unreachable_url_is_retried_then_failed_with_the_reason(make_engine: Any) -> None:
    engine = make_engine()
    engine.jobs.enqueue("url", "http://127.0.0.1:9/gone.html", max_attempts=2)
    options = WorkerOptions(
        lease=timedelta(seconds=30),
        until_idle=True,
        idle_sleep=0.05,
        heartbeat=0.2,
        retry_in=timedelta(0),
    )
    report = Worker(engine, options).run()
    assert (report.jobs_retried, report.jobs_failed, report.jobs_done) == (1, 1, 0)
    (failed,) = engine.jobs.list_jobs("failed")
    assert failed.attempts == 2 and failed.error


def test_job_targets_expand_folders_and_refuse_bad_inputs(tmp_path: Path) -> None:
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "a.jsonl").write_text("{}\n")
    (tmp_path / "d" / "b.md").write_text("# t\n\nx\n")
    (tmp_path / "d" / "skip.bin").write_bytes(b"\x00")
    assert job_targets([str(tmp_path / "d"), "https://example.com/a"]) == [
        ("file", str((tmp_path / "d" / "a.jsonl").resolve())),
        ("file", str((tmp_path / "d" / "b.md").resolve())),
        ("url", "https://example.com/a"),
    ]
    with pytest.raises(InputError):
        job_targets([str(tmp_path / "missing")])
    with pytest.raises(InputError):
        job_targets(["ftp://example.com/x"])
    assert feed_backoff(timedelta(minutes=1), 0) == timedelta(minutes=1)
    assert feed_backoff(timedelta(minutes=1), 2) == timedelta(minutes=4)
    assert feed_backoff(timedelta(hours=1), 10) == timedelta(days=1)


def test_cli_queue_worker_status_and_jobs(store_settings: dict[str, Any], tmp_path: Path) -> None:
    (story,) = stories(1, copies=1, exact=0, seed=9)
    path = write_jsonl(
        tmp_path / "in.jsonl",
        [
            {"id": f"c{i}", "title": it.title, "paragraphs": list(it.paragraphs)}
            for i, it in enumerate(story)
        ]
        + ["[1, 2]"],
    )
    env = {"NEWSDESK_EMBEDDER": "hashing"}
    if store_settings:
        env["NEWSDESK_STORE_URL"] = store_settings["store_url"]
    home = str(tmp_path / "home")
    runner = CliRunner()

    def run(*args: str) -> Any:
        result = runner.invoke(cli, ["--home", home, *args], env=env)
        assert result.exit_code == 0, result.output
        return result

    queued = json.loads(run("ingest", "--queue", str(path), "--json").stdout)
    assert [(j["kind"], j["state"], j["new"]) for j in queued["jobs"]] == [("file", "queued", True)]
    before = json.loads(run("status", "--json").stdout)
    assert before["queue"]["queued_jobs"] == 1 and before["documents"] == 0
    assert before["lag"]["oldest_due_job_s"] is not None
    done = json.loads(run("worker", "--until-idle", "--idle-sleep", "0.05", "--json").stdout)
    assert done["jobs_done"] == 1 and done["counts"]["accepted"] == 2
    after = json.loads(run("status", "--json").stdout)
    assert after["documents"] == 2 and after["stories"] == 1  # the copy joined the story
    assert after["queue"]["queued_jobs"] == 0 and after["lag"]["index_documents"] == 0
    jobs = json.loads(run("jobs", "list", "--json").stdout)["jobs"]
    assert jobs[0]["state"] == "done" and jobs[0]["counts"]["failed"] == 1
    failures = json.loads(run("jobs", "failures", "--json").stdout)["failures"]
    assert failures[0]["origin"].endswith(":3") and "JSON object" in failures[0]["reason"]
    help_text = run("worker", "--help").stdout
    assert "--until-idle" in help_text and "lease" in help_text


def test_a_feed_full_of_bad_items_keeps_the_good_and_records_each_bad_one(
    make_engine: Any, site: SiteServer
) -> None:
    good = [it for s in stories(5, copies=0, exact=0, seed=21) for it in s]
    bad = [
        "<item><title></title><description></description></item>",
        "<item><link>https://news.test/bad/no-title</link></item>",
        "<item><description><![CDATA[<script>alert(1)</script>]]></description></item>",
    ] * 7
    xml = rss(good).decode().replace("</channel>", "".join(bad) + "</channel>")
    site.routes["/mixed.xml"] = (200, {"Content-Type": "application/rss+xml"}, xml.encode())
    engine = make_engine()
    engine.add_feed(f"{site.url}/mixed.xml")
    report = Worker(engine, FAST).run()
    assert report.feeds_polled == 1 and report.feeds_failed == 0
    assert report.counts["accepted"] == 5 and report.counts["failed"] == 21
    assert engine.status()["documents"] == 5
    failures = engine.jobs.failures(limit=100)
    assert len(failures) == 21
    assert {f.source for f in failures} == {f"feed:{site.url}/mixed.xml"}
    assert len({f.origin for f in failures}) == 21  # one record per bad item
    assert all("title" in f.reason for f in failures)
    feed = engine.feed_store.get(f"{site.url}/mixed.xml")
    assert feed is not None and feed.last_status == "ok" and feed.lease_owner == ""
    # Due again (as after its interval): nothing is stored twice, the bad items are
    # recorded again.
    engine.feed_store.release(feed.url, "", timedelta(0))
    again = Worker(engine, FAST).run()
    assert again.feeds_polled == 1
    assert (again.counts["unchanged"], again.counts["accepted"], again.counts["failed"]) == (
        5,
        0,
        21,
    )
    assert engine.status()["documents"] == 5
    assert len(engine.jobs.failures(limit=100)) == 42


def test_feeds_poll_leaves_a_feed_a_worker_holds(make_engine: Any, site: SiteServer) -> None:
    items = [it for s in stories(2, copies=0, exact=0, seed=13) for it in s]
    site.routes["/a.xml"] = (200, {"Content-Type": "application/rss+xml"}, rss(items[:1]))
    site.routes["/b.xml"] = (200, {"Content-Type": "application/rss+xml"}, rss(items[1:]))
    engine = make_engine()
    engine.add_feed(f"{site.url}/a.xml")
    engine.add_feed(f"{site.url}/b.xml")
    assert engine.feed_store.try_lease(f"{site.url}/a.xml", "a-worker", timedelta(seconds=60))
    polls = {p.url: p.status for p in engine.poll_feeds()}
    assert polls == {f"{site.url}/a.xml": "leased", f"{site.url}/b.xml": "ok"}
    assert [p for p, _ in site.requests] == ["/b.xml"]
    b = engine.feed_store.get(f"{site.url}/b.xml")
    assert b is not None and b.lease_owner == ""  # given back after the poll
