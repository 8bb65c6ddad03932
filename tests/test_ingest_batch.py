"""A batch is grouped as if each document were stored on its own, one after another.

Ingest looks up the near-duplicate candidates of a whole batch at once
(``Store.band_neighbours``) and keeps the documents it stores meanwhile in memory.
These tests hold it to the per-document path (``Engine.ingest_record``, which asks the
store before each document), on SQLite and PostgreSQL: copies inside one batch, copies
of stored stories, a document updated inside the batch, and a document the store
refuses in the middle of a batch.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from conftest import write_jsonl
from newsdesk import dedupe, load_settings, open_engine
from newsdesk.engine import Engine
from newsdesk.errors import StoreError
from newsdesk.ingest.sources import RawRecord, iter_records
from test_crash import CHARS


def _story(rng: random.Random) -> list[str]:
    return [
        "".join(rng.choice(CHARS) for _ in range(rng.randint(60, 120))) + "。" for _ in range(3)
    ]


def _rows(n: int, seed: int, prefix: str) -> list[dict[str, object]]:
    """Stories with copies of earlier ones (boilerplate added, a paragraph cut)."""
    rng = random.Random(seed)
    rows: list[dict[str, object]] = []
    for i in range(n):
        rows.append({"id": f"{prefix}{i}", "title": f"报道{i}", "paragraphs": _story(rng)})
        if i % 5 == 0 and i:
            src = rows[rng.randrange(len(rows) - 1)]
            copy = [*src["paragraphs"][:2], "责任编辑：王小明"]  # type: ignore[index]
            rows.append({"id": f"{prefix}{i}c", "title": f"转载{i}", "paragraphs": copy})
    return rows


def _stories(engine: Engine, ids: list[str]) -> dict[str, str]:
    return engine.store.story_of(ids)


def _ingest_one_by_one(engine: Engine, path: Path) -> None:
    for record in iter_records([path]):
        assert isinstance(record, RawRecord)
        engine.ingest_record(record)


@pytest.fixture
def sqlite_pair(tmp_path: Path) -> Iterator[tuple[Engine, Engine]]:
    opened = []
    for name in ("batch", "single"):
        settings = load_settings(
            home=tmp_path / name, environ={}, overrides={"embedder": "none", "ingest_workers": 1}
        )
        opened.append(open_engine(settings))
    try:
        yield opened[0], opened[1]
    finally:
        for engine in opened:
            engine.close()


def _scenario(tmp_path: Path) -> tuple[list[Path], list[str]]:
    """Three ingests: stories; then updates, copies of stored and of new stories in one
    batch; then copies of the updated texts and of their old versions."""
    first = _rows(300, 1, "a")
    second = _rows(300, 2, "b")
    rng = random.Random(3)
    updates = []
    for row in rng.sample(first, 20):
        paragraphs = [*row["paragraphs"][:2], "更正：" + _story(rng)[0]]  # type: ignore[index]
        updates.append({**row, "paragraphs": paragraphs})
    for i, row in enumerate(rng.sample(first, 20)):
        paragraphs = [*row["paragraphs"][:2], "（来源：另一家网站）"]  # type: ignore[index]
        updates.append({"id": f"copy-of-stored{i}", "title": "转", "paragraphs": paragraphs})
    mixed = updates + second
    rng.shuffle(mixed)
    # Stories rewritten in the batch, then copies of what they said before: those must
    # not join the rewritten documents through the keys the store held for them.
    rewritten, old_copies = [], []
    alone = [{"id": f"r{i}", "title": f"独家{i}", "paragraphs": _story(rng)} for i in range(10)]
    first += alone
    for i, row in enumerate(alone):
        rewritten.append({**row, "paragraphs": _story(rng)})
        paragraphs = [*row["paragraphs"][:2], "编辑：张三"]  # type: ignore[index]
        old_copies.append({"id": f"copy-of-old{i}", "title": "转", "paragraphs": paragraphs})
    mixed = rewritten + old_copies + mixed
    third = []
    for i, row in enumerate(updates[:20]):
        paragraphs = [*row["paragraphs"][1:], "编辑：李四"]  # type: ignore[index]
        third.append({"id": f"copy-of-updated{i}", "title": "转", "paragraphs": paragraphs})
    paths = [
        write_jsonl(tmp_path / "first.jsonl", first),
        write_jsonl(tmp_path / "second.jsonl", mixed),
        write_jsonl(tmp_path / "third.jsonl", third),
    ]
    ids = [str(r["id"]) for r in first + mixed + third]
    return paths, ids


def _same_grouping(batch: Engine, single: Engine, tmp_path: Path) -> dict[str, str]:
    paths, ids = _scenario(tmp_path)
    for path in paths:
        batch.ingest_paths([path], defer_embeddings=True, defer_summaries=True)
        _ingest_one_by_one(single, path)
    got, want = _stories(batch, ids), _stories(single, ids)
    assert got == want
    grouped = {doc_id for doc_id, story in got.items() if story != doc_id}
    # Copies within the new batch, of stored stories and of updated ones were grouped.
    assert any(i.startswith("b") for i in grouped)
    assert any(i.startswith("copy-of-stored") for i in grouped)
    assert any(i.startswith("copy-of-updated") for i in grouped)
    assert not any(i.startswith("copy-of-old") for i in grouped)
    hashes = batch.store.content_hashes([*ids, "not-stored"])
    assert hashes == {i: batch.store.content_hash_of(i) for i in ids}
    return got


def test_batches_group_as_one_document_at_a_time(
    sqlite_pair: tuple[Engine, Engine], tmp_path: Path
) -> None:
    _same_grouping(*sqlite_pair, tmp_path)


@pytest.fixture
def pg_pair(pg_databases: Any, tmp_path: Path) -> Iterator[tuple[Engine, Engine]]:
    opened = []
    for name in ("batch", "single"):
        overrides = {"embedder": "none", "ingest_workers": 1, "store_url": pg_databases()}
        settings = load_settings(home=tmp_path / name, environ={}, overrides=overrides)
        opened.append(open_engine(settings))
    try:
        yield opened[0], opened[1]
    finally:
        for engine in opened:
            engine.close()


def test_batches_group_as_one_document_at_a_time_on_postgresql(
    pg_pair: tuple[Engine, Engine], tmp_path: Path
) -> None:
    _same_grouping(*pg_pair, tmp_path)


def test_band_neighbours_are_the_per_document_candidates(
    sqlite_pair: tuple[Engine, Engine], tmp_path: Path
) -> None:
    engine = sqlite_pair[0]
    paths, _ = _scenario(tmp_path)
    engine.ingest_paths(paths[:2], defer_embeddings=True, defer_summaries=True)
    docs = engine.store.get_documents(engine.store.all_ids()[:200])
    keys = []
    for doc in docs.values():
        sig, n = dedupe.fingerprint(p.text for p in doc.paragraphs)
        keys.append(dedupe.band_keys(sig) if n >= dedupe.MIN_SHINGLES else [])
    found = engine.store.band_neighbours(keys)
    for bands in keys:
        union = {row for pair in enumerate(bands) for row in found.get(pair, [])}
        assert union == set(engine.store.story_candidates(bands, exclude=""))
    assert engine.store.band_neighbours([]) == {}


def test_a_refused_document_fails_alone_and_groups_nothing(
    sqlite_pair: tuple[Engine, Engine], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = sqlite_pair[0]
    rng = random.Random(9)
    story = _story(rng)
    rows = [
        {"id": "before", "title": "甲", "paragraphs": _story(rng)},
        {"id": "refused", "title": "乙", "paragraphs": story},
        {"id": "copy", "title": "丙", "paragraphs": [*story[:2], "责任编辑：王小明"]},
        {"id": "after", "title": "丁", "paragraphs": _story(rng)},
    ]
    real_put = engine.store.put

    def put(doc: Any, **kwargs: Any) -> Any:
        stored = real_put(doc, **kwargs)  # written, then refused: the savepoint undoes it
        if doc.id == "refused":
            raise StoreError("the store refused the document: test")
        return stored

    monkeypatch.setattr(engine.store, "put", put)
    report = engine.ingest_paths([write_jsonl(tmp_path / "in.jsonl", rows)], defer_embeddings=True)
    outcomes = {r.doc_id: r.outcome for r in report.results}
    assert outcomes == {
        "before": "accepted",
        "refused": "failed",
        "copy": "accepted",
        "after": "accepted",
    }
    assert engine.store.get_document("refused") is None
    # The copy did not join the refused document's story: that document is not stored.
    assert engine.store.story_of(["copy"]) == {"copy": "copy"}
    assert set(engine.store.all_ids()) == {"before", "copy", "after"}


def test_a_rerun_finds_its_documents_unchanged_in_one_lookup(
    sqlite_pair: tuple[Engine, Engine], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = sqlite_pair[0]
    rows = _rows(40, 4, "u")
    path = write_jsonl(tmp_path / "in.jsonl", rows)
    engine.ingest_paths([path], defer_embeddings=True)
    ids = [str(r["id"]) for r in rows]
    hashes = engine.store.content_hashes([*ids, "not-stored", ids[0]])
    assert set(hashes) == set(ids)
    assert all(hashes[i] == engine.store.content_hash_of(i) for i in ids)
    edited = [*rows[:-1], {**rows[-1], "paragraphs": ["改过的一段。" * 30]}]
    lookups: list[int] = []
    real = engine.store.content_hashes
    monkeypatch.setattr(engine.store, "content_hashes", lambda ids: lookups.append(1) or real(ids))
    report = engine.ingest_paths([write_jsonl(tmp_path / "again.jsonl", edited)])
    assert report.counts["unchanged"] == len(rows) - 1
    assert report.counts["updated"] == 1
    assert len(lookups) == 1
