"""One store suite, run against SQLite and against a live PostgreSQL (parametrized).

Every contract the engine relies on: documents and their revisions, duplicates,
summaries, index watermarks and embeddings, stories, feeds with leases, the job
queue with leases, workers, failures, the named lock, the translation cache; and the
same JSON from both backends for the same ingest.
"""

from __future__ import annotations

import json
import sys
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from newsdesk import dedupe, load_settings, open_engine
from newsdesk.engine import open_store
from newsdesk.ingest.normalize import content_hash
from newsdesk.models import Bullet, Document, Paragraph, Section, Summary
from newsdesk.search import SearchRequest
from newsdesk.store import InputFailure, Store, Stores, SummaryFailure, TranslationKey
from newsdesk.store.translations import TranslationCache
from newsdesk.views import document_json, search_json

NOW = datetime(2025, 9, 1, 8, 0, tzinfo=UTC)


@pytest.fixture
def stores(store_settings: dict[str, Any], tmp_path: Path) -> Iterator[Stores]:
    settings = load_settings(home=tmp_path / "home", environ={}, overrides=store_settings)
    opened = open_store(settings)
    try:
        yield opened
    finally:
        opened.store.close()


def _doc(
    doc_id: str,
    paragraphs: list[str],
    *,
    url: str = "",
    title: str = "",
    published: datetime | None = NOW,
    source: str = "Wire",
    story: str = "",
    lang: str = "zh",
) -> Document:
    title = title or f"title of {doc_id}"
    return Document(
        id=doc_id,
        title=title,
        paragraphs=tuple(Paragraph(i, t) for i, t in enumerate(paragraphs, start=1)),
        source=source,
        url=url,
        published_at=published,
        lang=lang,
        category="tech",
        content_hash=content_hash(title, paragraphs),
        story_id=story,
    )


def _put(store: Store, doc: Document, summary: Summary | None = None) -> str:
    sig, n = dedupe.fingerprint(p.text for p in doc.paragraphs)
    bands = dedupe.band_keys(sig) if n >= dedupe.MIN_SHINGLES else []
    with store.transaction():
        stored = store.put(
            doc, minhash=dedupe.signature_to_bytes(sig), bands=bands, summary=summary
        )
    return stored.outcome


def _summary(doc: Document, text: str, language: str = "zh", name: str = "extractive") -> Summary:
    return Summary(
        doc_id=doc.id,
        sections=(Section("Core Insights", (Bullet(text, (1,)),)),),
        language=language,
        summarizer=name,
        content_hash=doc.content_hash,
    )


LONG = (
    "芯片企业本月公布了新的扩产计划，预计明年投产的产能将提高三成，设备采购以国产为主。"
    "公司负责人表示，新工厂将在上海和合肥两地同时建设，总投资约为一百二十亿元人民币。"
    "分析人士认为，此举有助于缓解成熟制程产能紧张的局面，但高端光刻设备仍依赖进口。"
)


# -- documents ---------------------------------------------------------------------------
def test_put_get_roundtrip_and_outcomes(stores: Stores) -> None:
    store = stores.store
    doc = _doc("a", [LONG, "第二段：公司表示订单充足。"], url="https://example.com/a")
    assert _put(store, doc) == "accepted"
    assert _put(store, doc) == "unchanged"
    got = store.get_document("a")
    assert got is not None
    assert got.title == doc.title and got.url == doc.url and got.published_at == NOW
    assert [p.text for p in got.paragraphs] == [p.text for p in doc.paragraphs]
    assert [p.n for p in got.paragraphs] == [1, 2]
    assert got.story_id == "a" and got.content_hash == doc.content_hash
    # Same content under another id, or the same URL: a duplicate, not stored.
    copy = _doc("b", [LONG, "第二段：公司表示订单充足。"], title=doc.title)
    assert _put(store, copy) == "duplicate"
    assert _put(store, _doc("c", ["完全不同的内容。" * 5], url="https://example.com/a")) == (
        "duplicate"
    )
    changed = _doc("a", [LONG, "第二段改了：公司表示订单非常充足。"], url="https://example.com/a")
    assert _put(store, changed) == "updated"
    assert store.count_documents() == 1
    assert store.get_document("a").paragraphs[1].text.startswith("第二段改了")  # type: ignore[union-attr]
    assert store.get_document("missing") is None
    assert store.content_hash_of("a") == changed.content_hash
    assert store.content_hash_of("missing") is None


def test_revisions_increase_and_rows_since_follows_them(stores: Stores) -> None:
    store = stores.store
    for i in range(5):
        _put(store, _doc(f"d{i}", [f"第{i}篇：{LONG}{i}"]))
    revs = [r.rev for r in store.rows_since(0)]
    assert revs == sorted(revs) and len(set(revs)) == 5
    assert store.max_rev() == revs[-1]
    _put(store, _doc("d1", [f"第1篇改：{LONG}"]))  # an update moves d1 to the end
    rows = store.rows_since(revs[-1])
    assert [r.id for r in rows] == ["d1"] and rows[0].rev > revs[-1]
    assert rows[0].body == f"第1篇改：{LONG}" and rows[0].lang == "zh"
    assert store.count_documents(max_rev=revs[1]) == 1  # d0 only: d1 moved on
    assert [r.id for r in store.rows_since(0, limit=2)] == ["d0", "d2"]


def test_stories_members_candidates_and_ordering(stores: Stores) -> None:
    store = stores.store
    early = NOW - timedelta(hours=3)
    _put(store, _doc("s1", [LONG], published=early, source="A"))
    _put(store, _doc("s2", [LONG + "（转载）"], published=NOW, source="B", story="s1"))
    _put(store, _doc("u1", ["无关的内容" * 10], published=None, source="A"))
    sig, _ = dedupe.fingerprint([LONG + "（来源：C）"])
    found = store.story_candidates(dedupe.band_keys(sig), exclude="zzz")
    assert {c[0] for c in found} >= {"s1", "s2"}
    assert all(isinstance(c[2], bytes) and c[2] for c in found)
    assert store.story_candidates([], exclude="x") == []
    members = store.story_members(["s1"])["s1"]
    assert [m.id for m in members] == ["s1", "s2"]  # earliest first
    assert members[0].source == "A" and members[0].published_at == early
    assert store.story_of(["s1", "s2", "nope"]) == {"s1": "s1", "s2": "s1"}
    assert store.stories_and_times(["s2"]) == {"s2": ("s1", NOW)}
    assert store.newest_ids(10) == ["s1", "u1"]  # representatives, dated first, undated last
    assert store.count_stories() == 2
    assert store.sources() == [("A", 2), ("B", 1)]
    assert store.all_ids() == ["s1", "s2", "u1"]
    assert store.ids_after("s1", 10) == ["s2", "u1"]
    assert store.paragraph_texts(["s1", "u1"]) == {"s1": [LONG], "u1": ["无关的内容" * 10]}
    assert set(store.get_documents(["s1", "u1", "x"])) == {"s1", "u1"}
    store.replace_signatures([("u1", b"sig", [1, 2, 3])])
    assert store.story_candidates([1], exclude="") == [("u1", "u1", b"sig", None)]


def test_text_with_nul_and_odd_characters_is_stored(stores: Stores) -> None:
    store = stores.store
    doc = _doc("odd", ["零\x00字节与表情😀和\u200b零宽字符。" * 3])
    assert _put(store, doc) == "accepted"
    got = store.get_document("odd")
    assert got is not None and "😀" in got.paragraphs[0].text


# -- summaries ---------------------------------------------------------------------------
def test_summaries_and_their_failures(stores: Stores) -> None:
    store = stores.store
    doc = _doc("a", [LONG])
    _put(store, doc, _summary(doc, "要点"))
    assert store.get_summaries(["a"], "extractive")["a"].sections[0].bullets[0].text == "要点"
    store.put_summary(_summary(doc, "English point", language="en", name="llm"))
    store.put_summary(_summary(doc, "中文要点", language="zh", name="llm"))
    assert store.get_summary("a", "llm", "en", "", "").sections[0].title == "Core Insights"  # type: ignore[union-attr]
    assert store.get_summary("a", "llm", "en", "other-model", "") is None
    by_lang = store.get_summaries(["a"], "llm", "en")["a"]
    assert by_lang.sections[0].bullets[0].text == "English point"
    assert store.get_summaries(["a"], "llm")["a"].language == "zh"  # any: the last by language
    assert store.count_summarized("llm") == 1
    failure = SummaryFailure("a", "llm", "fr", "timed out", doc.content_hash, model="m")
    store.put_summary_error(failure)
    store.put_summary_error(failure)  # replaced, not added
    errors = store.summary_errors("a")
    assert [(e.language, e.error) for e in errors] == [("fr", "timed out")]
    store.put_summary(_summary(doc, "point", language="fr", name="llm"))
    assert store.summary_errors("a") == []
    # New content: the old summaries no longer count.
    _put(store, _doc("a", [LONG + "更新"]))
    assert store.get_summaries(["a"], "llm") == {}
    assert store.count_summarized("extractive") == 0


# -- index state and embeddings ---------------------------------------------------------
def test_index_state_and_embeddings(stores: Stores) -> None:
    store = stores.store
    assert store.index_state("lexical") is None
    store.set_index_state("lexical", 7, {"v": 1})
    assert store.index_state("lexical") == (7, {"v": 1})
    store.set_index_state("lexical", 3, {"v": 2})  # explicit set may go back (a rebuild)
    assert store.index_state("lexical") == (3, {"v": 2})
    for i in range(3):
        _put(store, _doc(f"e{i}", [f"{LONG}{i}"]))
    rows = store.rows_since(0)
    vec = bytes(range(8))
    store.put_embeddings("vectors", [(r.id, r.rev, vec) for r in rows[1:]], rows[-1].rev, {})
    store.put_embeddings("vectors", [(rows[0].id, rows[0].rev, vec)], rows[0].rev, {"p": 1})
    # The watermark never moves back over vectors another embedder stored.
    assert store.index_state("vectors") == (rows[-1].rev, {"p": 1})
    assert store.count_embedded() == 3
    loaded = store.embedding_rows(0)
    assert [r.id for r in loaded] == [r.id for r in rows] and loaded[0].vector == vec
    assert [r.id for r in store.embedding_rows(rows[0].rev, limit=1)] == [rows[1].id]
    _put(store, _doc("e0", [f"{LONG}改"]))  # a new revision: its old vector is not current
    assert store.count_embedded() == 2
    store.clear_embeddings("vectors", {"p": 2})
    assert store.count_embedded() == 0 and store.index_state("vectors") == (0, {"p": 2})


# -- translations ------------------------------------------------------------------------
def test_translations_cached_by_text_and_translator(stores: Stores) -> None:
    cache = TranslationCache(stores.translations)
    libre = TranslationKey("zh", "en", "libretranslate", "http://127.0.0.1:5000")
    llm = TranslationKey("zh", "en", "llm", "qwen")
    assert cache.get(libre, ["芯片"]) == {} and cache.count() == 0
    cache.put(libre, {"芯片": "chips", "工厂": "factory"})
    cache.put(llm, {"芯片": "semiconductors"})
    assert cache.get(libre, ["芯片", "工厂", "没有"]) == {"芯片": "chips", "工厂": "factory"}
    assert cache.get(llm, ["芯片", "工厂"]) == {"芯片": "semiconductors"}
    assert cache.get(TranslationKey("zh", "fr", "llm", "qwen"), ["芯片"]) == {}
    assert cache.count() == 3
    cache.put(libre, {"芯片": "chip"})  # a later answer replaces the earlier one
    assert cache.get(libre, ["芯片"]) == {"芯片": "chip"} and cache.count() == 3
    # More texts than one query may bind, and characters PostgreSQL text cannot hold.
    many = {f"句子{i}": f"sentence {i}" for i in range(1000)}
    cache.put(llm, {**many, "坏\x00字": "bad\x00char"})
    got = cache.get(llm, [*many, "坏\x00字"])
    assert {k: got[k] for k in many} == many
    assert got["坏\x00字"].replace("\x00", "") == "badchar"
    assert cache.count() == 3 + len(many) + 1


def test_index_rows_carry_their_story_and_current_vectors(stores: Stores) -> None:
    store = stores.store
    _put(store, _doc("lead", [f"{LONG}甲"]))
    _put(store, _doc("copy", [f"{LONG}乙"], story="lead"))
    rows = {r.id: r for r in store.rows_since(0)}
    assert (rows["lead"].story, rows["copy"].story) == ("lead", "lead")
    vec = bytes(range(8))
    store.put_embeddings("vectors", [(r.id, r.rev, vec) for r in rows.values()], 0, {})
    current = store.current_embeddings(["lead", "copy", "missing"])
    assert sorted(current) == ["copy", "lead"] and current["lead"].vector == vec
    assert current["copy"].rev == rows["copy"].rev and current["copy"].lang == "zh"
    _put(store, _doc("copy", [f"{LONG}乙改"], story="lead"))  # its vector is now stale
    assert sorted(store.current_embeddings(["lead", "copy"])) == ["lead"]
    assert store.current_embeddings([]) == {}


def test_advance_index_state_only_moves_forward_for_the_same_params(stores: Stores) -> None:
    store = stores.store
    assert not store.advance_index_state("cluster", 5, {"index": "a"})  # nothing recorded
    assert store.index_state("cluster") is None
    store.set_index_state("cluster", 3, {"index": "a", "v": 1})
    assert store.advance_index_state("cluster", 7, {"v": 1, "index": "a"})
    assert store.index_state("cluster") == (7, {"index": "a", "v": 1})
    # A late writer with an older revision never takes it back.
    assert not store.advance_index_state("cluster", 4, {"index": "a", "v": 1})
    assert not store.advance_index_state("cluster", 7, {"index": "a", "v": 1})
    # Another index's writer (a rebuild swapped the alias) never overwrites it.
    assert not store.advance_index_state("cluster", 99, {"index": "b", "v": 1})
    assert store.index_state("cluster") == (7, {"index": "a", "v": 1})


def test_try_lock_is_exclusive_across_store_objects(
    store_settings: dict[str, Any], tmp_path: Path
) -> None:
    settings = load_settings(home=tmp_path / "home", environ={}, overrides=store_settings)
    one = open_store(settings).store
    two = open_store(settings).store
    try:
        with one.try_lock("embed") as first:
            assert first
            with two.try_lock("embed") as second:
                assert not second
            with two.try_lock("other") as other:
                assert other
        with two.try_lock("embed") as again:
            assert again
    finally:
        one.close()
        two.close()


def test_concurrent_writers_commit_revisions_in_order(
    store_settings: dict[str, Any], tmp_path: Path
) -> None:
    """Two writers at once: a reader following revisions never skips a late commit."""
    settings = load_settings(home=tmp_path / "home", environ={}, overrides=store_settings)
    a = open_store(settings).store
    b = open_store(settings).store
    seen: list[int] = []
    try:
        slow_started = threading.Event()

        def slow_batch() -> None:
            with a.transaction():
                _put(a, _doc("slow", [f"{LONG}慢"]))
                slow_started.set()
                time.sleep(0.5)

        thread = threading.Thread(target=slow_batch)
        thread.start()
        assert slow_started.wait(10)
        _put(b, _doc("fast", [f"{LONG}快"]))  # waits for the slow batch to commit
        thread.join()
        seen = [r.rev for r in b.rows_since(0)]
        ids = [r.id for r in b.rows_since(0)]
        assert ids == ["slow", "fast"] and seen == sorted(seen)
    finally:
        a.close()
        b.close()


# -- feeds -------------------------------------------------------------------------------
def test_feeds_state_and_leases(stores: Stores) -> None:
    feeds = stores.feeds
    assert feeds.add("https://a.example/rss", NOW)
    assert not feeds.add("https://a.example/rss", NOW)
    assert feeds.add("https://b.example/rss", NOW)
    feeds.record_success(
        "https://a.example/rss", NOW, status="ok", title="A", etag="e1", items=3, accepted=2
    )
    feeds.record_error("https://b.example/rss", NOW, "boom")
    a = feeds.get("https://a.example/rss")
    b = feeds.get("https://b.example/rss")
    assert a is not None and b is not None
    assert (a.title, a.etag, a.items_seen, a.accepted, a.last_status) == ("A", "e1", 3, 2, "ok")
    assert (b.error_count, b.last_error, b.last_status) == (1, "boom", "error")
    assert [f.url for f in feeds.all()] == ["https://a.example/rss", "https://b.example/rss"]
    # Due feeds are leased once; a lease holder's feeds are not claimable by others.
    lease = timedelta(seconds=30)
    first = feeds.claim_due("w1", lease, limit=1)
    second = feeds.claim_due("w2", lease, limit=5)
    assert len(first) == 1 and len(second) == 1
    assert {first[0].url, second[0].url} == {"https://a.example/rss", "https://b.example/rss"}
    assert first[0].lease_owner == "w1" and first[0].lease_expires
    assert feeds.claim_due("w3", lease, limit=5) == []
    assert feeds.renew("w1", lease) == 1
    feeds.release(first[0].url, "w1", timedelta(hours=1))
    feeds.release(second[0].url, "w2", timedelta(0))
    again = feeds.claim_due("w3", lease, limit=5)
    assert [f.url for f in again] == [second[0].url]  # the other is not due for an hour
    assert feeds.get(first[0].url).next_poll_at is not None  # type: ignore[union-attr]
    assert feeds.remove(first[0].url) and not feeds.remove(first[0].url)


def test_a_feed_can_be_leased_on_demand_unless_held(stores: Stores) -> None:
    feeds = stores.feeds
    feeds.add("https://a.example/rss", NOW)
    lease = timedelta(seconds=30)
    assert feeds.try_lease("https://a.example/rss", "poller", lease)
    assert feeds.try_lease("https://a.example/rss", "poller", lease)  # its own: renewed
    assert not feeds.try_lease("https://a.example/rss", "worker", lease)
    assert feeds.claim_due("worker", lease) == []
    feeds.release("https://a.example/rss", "poller", None)  # schedule untouched: still due
    assert [f.url for f in feeds.claim_due("worker", lease)] == ["https://a.example/rss"]
    assert not feeds.try_lease("https://a.example/rss", "poller", lease)
    assert not feeds.try_lease("https://missing.example/rss", "poller", lease)


def test_expired_feed_lease_is_taken_over(stores: Stores) -> None:
    feeds = stores.feeds
    feeds.add("https://a.example/rss", NOW)
    assert feeds.claim_due("dead", timedelta(seconds=1))
    deadline = time.monotonic() + 20
    taken: list[Any] = []
    while not taken:
        assert time.monotonic() < deadline, "the expired lease was never taken over"
        time.sleep(0.2)
        taken = feeds.claim_due("alive", timedelta(seconds=30))
    assert taken[0].lease_owner == "alive"


# -- jobs --------------------------------------------------------------------------------
def test_job_queue_lifecycle(stores: Stores) -> None:
    jobs = stores.jobs
    job, new = jobs.enqueue("url", "https://a.example/1")
    again, new_again = jobs.enqueue("url", "https://a.example/1")
    assert new and not new_again and again.id == job.id
    second, _ = jobs.enqueue("file", "/data/x.jsonl", max_attempts=2)
    assert jobs.stats().jobs["queued"] == 2 and jobs.stats().oldest_due_job_age is not None
    lease = timedelta(seconds=30)
    got = jobs.claim("w1", lease)
    assert got is not None and got.id == job.id and got.state == "running"
    assert got.attempts == 1 and got.lease_owner == "w1"
    other = jobs.claim("w2", lease)
    assert other is not None and other.id == second.id
    assert jobs.claim("w3", lease) is None
    assert {(le.kind, le.owner) for le in jobs.leases()} == {("job", "w1"), ("job", "w2")}
    assert not jobs.finish(job.id, "w2", {})  # not the holder
    assert jobs.finish(job.id, "w1", {"accepted": 3})
    done = jobs.get(job.id)
    assert done is not None and done.state == "done" and done.counts == {"accepted": 3}
    # A failed attempt is retried while attempts remain, then fails for good.
    assert jobs.fail(second.id, "w2", "unreadable", timedelta(0))
    retry = jobs.claim("w2", lease)
    assert retry is not None and retry.id == second.id and retry.attempts == 2
    assert jobs.fail(second.id, "w2", "unreadable again", timedelta(0))
    failed = jobs.get(second.id)
    assert failed is not None and failed.state == "failed" and failed.error == "unreadable again"
    assert [j.id for j in jobs.list_jobs("failed")] == [second.id]
    # Done: the same target may be queued again.
    assert jobs.enqueue("url", "https://a.example/1")[1]
    assert jobs.stats().jobs == {"queued": 1, "running": 0, "done": 1, "failed": 1}
    # Released work goes back without counting the attempt.
    third = jobs.claim("w4", lease)
    assert third is not None and jobs.release(third.id, "w4")
    back = jobs.get(third.id)
    assert back is not None and back.state == "queued" and back.attempts == 0


def test_a_dead_workers_job_is_taken_over_then_given_up(stores: Stores) -> None:
    jobs = stores.jobs
    job, _ = jobs.enqueue("url", "https://a.example/poison", max_attempts=2)
    short = timedelta(seconds=1)
    assert jobs.claim("dead-1", short) is not None
    deadline = time.monotonic() + 20
    taken = None
    while taken is None:
        assert time.monotonic() < deadline
        time.sleep(0.2)
        taken = jobs.claim("dead-2", short)
    assert taken.id == job.id and taken.attempts == 2 and taken.lease_owner == "dead-2"
    # Its second holder dies too: the job has used its attempts and fails for good.
    while (current := jobs.get(job.id)) is not None and current.state == "running":
        assert time.monotonic() < deadline + 20
        time.sleep(0.2)
        assert jobs.claim("alive", short) is None
    final = jobs.get(job.id)
    assert final is not None and final.state == "failed" and "2 attempt" in final.error


def test_concurrent_claims_never_share_a_job(
    store_settings: dict[str, Any], tmp_path: Path
) -> None:
    settings = load_settings(home=tmp_path / "home", environ={}, overrides=store_settings)
    handles = [open_store(settings) for _ in range(4)]
    try:
        for i in range(40):
            handles[0].jobs.enqueue("url", f"https://a.example/{i}")
        claimed: dict[str, list[int]] = {}

        def drain(n: int) -> None:
            got = claimed.setdefault(f"w{n}", [])
            while (job := handles[n].jobs.claim(f"w{n}", timedelta(seconds=60))) is not None:
                got.append(job.id)

        threads = [threading.Thread(target=drain, args=(n,)) for n in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        every = [i for ids in claimed.values() for i in ids]
        assert len(every) == len(set(every)) == 40
    finally:
        for handle in handles:
            handle.store.close()


def test_workers_heartbeats_and_failures(stores: Stores) -> None:
    jobs = stores.jobs
    jobs.register_worker("w1", "host-a", 123)
    jobs.heartbeat("w1", current="job 1", done={"jobs": 2, "documents": 10})
    jobs.heartbeat("w1", current="", done={"jobs": 1, "errors": 1})
    (w,) = jobs.workers()
    assert (w.id, w.host, w.pid, w.state) == ("w1", "host-a", 123, "running")
    assert (w.jobs_done, w.documents, w.errors) == (3, 10, 1)
    assert 0 <= w.heartbeat_age < 60
    jobs.stop_worker("w1")
    assert jobs.workers() == []
    assert [x.state for x in jobs.workers(include_stopped=True)] == ["stopped"]
    jobs.record_failures(
        [
            InputFailure("feed:https://a/rss", "https://a/rss#3", "failed", "no title"),
            InputFailure("job:4", "/x.jsonl:2", "failed", "invalid JSON\x00"),
        ]
    )
    got = jobs.failures()
    assert [(f.source, f.origin) for f in got] == [
        ("job:4", "/x.jsonl:2"),
        ("feed:https://a/rss", "https://a/rss#3"),
    ]
    assert got[0].at


# -- the same JSON from both backends -----------------------------------------------------
def test_both_backends_give_the_same_json(pg_url: str, tmp_path: Path) -> None:
    outputs = []
    for name, overrides in (("sqlite", {}), ("postgresql", {"store_url": pg_url})):
        settings = load_settings(
            home=tmp_path / name, environ={}, overrides={**overrides, "embedder": "hashing"}
        )
        with open_engine(settings) as engine:
            report = engine.ingest_sample()
            assert report.counts["accepted"] > 50 and report.counts["failed"] == 0
            engine.refresh()
            searches = [
                search_json(engine.search(SearchRequest(q, sort=sort, limit=20)))
                for q in ("技术主权", "rare earth export controls", "芯片 -存储")
                for sort in ("newest", "relevance")
            ]
            doc = engine.document("en-ecb-decision-01")
            shown = document_json(
                doc,
                engine.summary_for(doc.id),
                engine.other_sources(doc),
                [e.to_json() for e in engine.summary_errors(doc.id)],
            )
            status = engine.status()
            outputs.append((searches, shown, engine.sources(), status["stories"]))
    assert outputs[0] == outputs[1]
    assert outputs[0][0][0]["total"] > 0


# -- configuration -----------------------------------------------------------------------
def test_store_url_is_validated_and_its_password_redacted(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from newsdesk.cli import cli
    from newsdesk.errors import ConfigError

    with pytest.raises(ConfigError, match="store_url"):
        load_settings(home=tmp_path, environ={"NEWSDESK_STORE_URL": "mysql://x@y/z"})
    env = {"NEWSDESK_STORE_URL": "postgresql://ann:s3cret@db.example:5432/news?password=s3cret"}
    result = CliRunner().invoke(cli, ["--home", str(tmp_path), "config", "--json"], env=env)
    assert result.exit_code == 0, result.output
    assert "s3cret" not in result.output
    assert json.loads(result.output)["store_url"].startswith("postgresql://ann:***@db.example")


def test_postgres_without_psycopg_names_the_extra(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from newsdesk.errors import BackendUnavailable

    monkeypatch.setitem(sys.modules, "newsdesk.store.postgres", None)
    settings = load_settings(
        home=tmp_path, environ={}, overrides={"store_url": "postgresql://x@127.0.0.1:1/db"}
    )
    with pytest.raises(BackendUnavailable, match=r"newsdesk\[postgres\]"):
        open_store(settings)


def test_unreachable_postgres_is_a_clear_error(tmp_path: Path) -> None:
    pytest.importorskip("psycopg")
    from newsdesk.errors import StoreUnavailable
    from newsdesk.store.postgres import PostgresStore

    with pytest.raises(StoreUnavailable, match="unavailable"):
        PostgresStore("postgresql://nobody:pw@127.0.0.1:9/none", timeout=1.0)


# -- deletions ---------------------------------------------------------------------------
def test_deletions_are_recorded_and_a_story_gets_an_heir(stores: Stores) -> None:
    store = stores.store
    early = NOW - timedelta(hours=2)
    _put(store, _doc("rep", [LONG], published=early))
    _put(store, _doc("copy", [LONG + "（转载）"], published=NOW, story="rep"))
    _put(store, _doc("lone", ["另一条完全无关的消息。" * 8]))
    assert store.deletion_seq() == 0
    deleted = store.delete_documents(["rep", "nope", "rep"])
    assert [(d.doc_id, d.title) for d in deleted] == [("rep", "title of rep")]
    assert store.get_document("rep") is None and store.paragraph_texts(["rep"]) == {}
    assert store.story_of(["copy"]) == {"copy": "copy"}  # the heir represents the story
    seq = store.deletion_seq()
    assert seq == deleted[0].seq > 0 and store.count_deletions() == 1
    assert store.deleted_since(0) == ["rep"] and store.deleted_since(seq) == []
    assert [d.doc_id for d in store.deletions()] == ["rep"]
    assert store.pending_deletions() == ["rep"]
    store.mark_deletions_indexed(["rep"])
    assert store.pending_deletions() == []
    store.delete_documents(["lone"])
    assert store.pending_deletions() == ["lone"]
    assert _put(store, _doc("lone", ["另一条完全无关的消息。" * 8])) == "accepted"
    # Stored again: no longer deleted for anyone, and newer than every watermark.
    assert store.pending_deletions() == [] and store.deleted_since(0) == ["rep"]
    assert store.rows_since(store.max_rev() - 1)[0].id == "lone"
    assert store.languages() == [("zh", 2)]


def test_merge_stories_across_languages_is_recorded_and_idempotent(stores: Stores) -> None:
    store = stores.store
    early = NOW - timedelta(hours=5)
    _put(store, _doc("zh-rep", [LONG], published=NOW - timedelta(hours=1)))
    _put(store, _doc("zh-copy", [LONG + "（转载）"], story="zh-rep"))
    english = ["Chip makers announced new capacity plans this month, raising output." * 3]
    _put(store, _doc("en", english, published=early, lang="en", title="Chip makers expand"))
    _put(store, _doc("other", ["另一条完全无关的消息。" * 8]))
    rev = store.max_rev()
    # The English story was published first: its id becomes the story's.
    assert store.merge_stories("zh-copy", "en", "cosine 0.61; 5 shared") == "en"
    assert store.story_of(["zh-rep", "zh-copy", "en", "other"]) == {
        "zh-rep": "en",
        "zh-copy": "en",
        "en": "en",
        "other": "other",
    }
    members = store.story_members(["en"])["en"]
    assert [(m.id, m.lang) for m in members] == [("en", "en"), ("zh-rep", "zh"), ("zh-copy", "zh")]
    assert members[0].title == "Chip makers expand"
    assert store.count_stories() == 2
    assert "zh-rep" not in store.newest_ids(10) and "en" in store.newest_ids(10)
    links = [("en", "zh-copy", "cosine 0.61; 5 shared")]
    assert store.story_links(["zh-copy"]) == links == store.story_links(["en", "other"])
    # Again (a rerun): nothing changes, nothing is recorded twice; no new revision.
    assert store.merge_stories("en", "zh-copy", "again") == "en"
    assert store.merge_stories("zh-rep", "en") == "en"
    assert store.story_links(["en"]) == [*links, ("en", "zh-rep", "")]
    assert store.max_rev() == rev
    assert store.merge_stories("en", "missing") is None
    # The representative deleted: the earliest remaining member represents the story.
    store.delete_documents(["en"])
    assert store.story_of(["zh-rep", "zh-copy"]) == {"zh-rep": "zh-rep", "zh-copy": "zh-rep"}
    assert store.story_links(["zh-copy", "zh-rep"]) == []


def test_a_deletion_reaches_every_machines_index_copy(pg_url: str, tmp_path: Path) -> None:
    def engine(name: str) -> Any:
        overrides = {"store_url": pg_url, "embedder": "hashing"}
        return open_engine(load_settings(home=tmp_path / name, environ={}, overrides=overrides))

    with engine("a") as a, engine("b") as b:
        n = a.ingest_sample().counts["accepted"]
        for e in (a, b):
            e.refresh()
        target = a.search(SearchRequest("技术主权", mode="lexical")).hits[0].document.id
        assert b.lexical.num_docs() == a.lexical.num_docs() == n > 0
        a.delete_documents([target])
        for e in (a, b):
            e.refresh()
            assert e.lexical.num_docs() == n - 1
            found = e.searcher.candidates(SearchRequest("技术主权", mode="lexical")).lexical
            assert target not in {d for d, _ in found}
        # A third machine's fresh copy never holds it.
        with engine("c") as c:
            assert c.lexical.num_docs() == n - 1


def test_band_keys_put_in_a_transaction_are_seen_and_kept_as_the_documents_are(
    stores: Stores,
) -> None:
    # A transaction may write its documents' band keys only at its commit (SQLite
    # does, sorted): lookups inside it still see them, a document rolled back by its
    # savepoint takes its keys with it, a document put twice keeps its last keys, and
    # a document deleted in the same transaction leaves none behind.
    store = stores.store

    def put(doc: Document) -> list[int]:
        sig, _ = dedupe.fingerprint(p.text for p in doc.paragraphs)
        bands = dedupe.band_keys(sig)
        store.put(doc, minhash=dedupe.signature_to_bytes(sig), bands=bands, summary=None)
        return bands

    other = (
        "今年夏季全国多地出现持续高温天气，气象部门连续发布橙色预警，提醒居民减少午后外出。"
        "电力公司表示，用电负荷已创历史新高，部分地区实行错峰供电，确保居民生活用电稳定。"
    )
    with store.transaction():
        a_bands = put(_doc("a", [LONG]))
        assert {d for d, *_ in store.story_candidates(a_bands, "x")} == {"a"}
        found = store.band_neighbours([a_bands])
        assert {row[0] for rows in found.values() for row in rows} == {"a"}
        with pytest.raises(ZeroDivisionError), store.savepoint():
            put(_doc("b", [other]))
            raise ZeroDivisionError
        c_first = put(_doc("c", [other]))
        c_last = put(_doc("c", [other, "第二段：另一家公司宣布了新的计划。"]))
        put(_doc("d", [LONG + "补充一句。"]))
        store.delete_documents(["d"])
    assert store.get_document("b") is None
    assert {d for d, *_ in store.story_candidates(a_bands, "x")} == {"a"}
    assert {d for d, *_ in store.story_candidates(c_last, "x")} == {"c"}
    stale = {(band, k) for band, k in enumerate(c_first) if c_last[band] != k}
    assert stale
    found = store.band_neighbours([c_first])
    assert all("c" not in {row[0] for row in found.get(bk, [])} for bk in stale)
    assert any(row[0] == "c" for rows in store.band_neighbours([c_last]).values() for row in rows)
