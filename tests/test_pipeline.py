"""Worker processes change nothing but speed: same stories, summaries and index."""

from __future__ import annotations

import os
import random
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from conftest import write_jsonl
from newsdesk import SearchRequest, load_settings, open_engine
from newsdesk.models import Document, Summary
from test_crash import CHARS


def _rows(n: int) -> list[dict[str, object]]:
    rng = random.Random(5)
    rows: list[dict[str, object]] = []
    for i in range(n):
        paragraphs = [
            "".join(rng.choice(CHARS) for _ in range(rng.randint(60, 120))) + "。" for _ in range(3)
        ]
        rows.append({"id": f"p{i}", "title": f"报道{i}", "paragraphs": paragraphs})
        if i % 7 == 0 and i:
            # A syndicated copy of an earlier story: boilerplate added, a paragraph cut.
            src = rows[rng.randrange(len(rows) - 1)]
            copy = [*src["paragraphs"][:2], "责任编辑：王小明"]  # type: ignore[index]
            rows.append({"id": f"p{i}c", "title": f"转载{i}", "paragraphs": copy})
    return rows


def _dump(home: Path) -> list[tuple[object, ...]]:
    conn = sqlite3.connect(home / "newsdesk.sqlite3")
    try:
        return conn.execute(
            "SELECT d.id, d.story_id, d.content_hash, d.minhash, s.payload FROM documents d"
            " JOIN summaries s ON s.doc_id = d.id ORDER BY d.id"
        ).fetchall()
    finally:
        conn.close()


@pytest.mark.slow
def test_worker_processes_store_exactly_what_one_process_stores(tmp_path: Path) -> None:
    rows = _rows(700)  # three batches and more
    path = write_jsonl(tmp_path / "in.jsonl", rows)
    dumps = []
    for workers in ("1", "2"):
        home = tmp_path / f"home{workers}"
        env = {**os.environ, "NEWSDESK_INGEST_WORKERS": workers}
        done = subprocess.run(
            [
                sys.executable,
                "-c",
                "from newsdesk.cli import main; main()",
                "--home",
                str(home),
                "ingest",
                str(path),
            ],
            env=env,
            capture_output=True,
            text=True,
        )
        assert done.returncode == 0, done.stderr
        dumps.append(_dump(home))
    assert len(dumps[0]) == len(rows)
    assert dumps[0] == dumps[1]
    stories = {row[1] for row in dumps[0]}
    assert len(stories) < len(dumps[0])  # the copies were grouped in both runs


def _cited_correctly(summary: Summary, doc: Document) -> bool:
    """Every bullet cites paragraphs of ``doc`` and is taken from them word for word."""
    texts = {p.n: p.text for p in doc.paragraphs}
    for section in summary.sections:
        for bullet in section.bullets:
            if not bullet.citations or any(n not in texts for n in bullet.citations):
                return False
            if bullet.text not in "".join(texts[n] for n in bullet.citations):
                return False
    return summary.content_hash == doc.content_hash and bool(summary.sections)


def test_documents_found_right_after_a_large_ingest_have_cited_summaries(
    store_settings: dict[str, Any], tmp_path: Path
) -> None:
    """A large ingest makes documents searchable before their summaries; a document
    found or shown in between is summarized on the spot, and the catch-up does the rest."""
    rows = _rows(600)  # three batches: summaries are caught up after indexing
    path = write_jsonl(tmp_path / "in.jsonl", rows)
    overrides = {**store_settings, "embedder": "none", "ingest_workers": 1}
    settings = load_settings(home=tmp_path / "home", environ={}, overrides=overrides)
    with open_engine(settings) as engine:
        report = engine.ingest_paths([path], defer_summaries=True)
        stored = engine.status()["documents"]
        assert report.summarized == 0 and stored > 500
        assert engine.status()["summarized"] == 0  # nothing summarized yet
        assert engine.summaries_behind()
        engine.refresh()  # a shared store: this machine's index copy catches up
        results = engine.search(SearchRequest(query="报道", limit=10))
        assert len(results.hits) == 10
        for hit in results.hits:
            assert hit.summary is not None, hit.document.id
            assert _cited_correctly(hit.summary, hit.document)
        shown = engine.summary("p123")
        assert shown is not None and _cited_correctly(shown, engine.document("p123"))
        # Made on demand once, then kept.
        assert engine.status()["summarized"] >= 10
        remaining = stored - engine.status()["summarized"]
        assert engine.summarize_pending() == remaining
        assert engine.status()["summarized"] == stored
        assert not engine.summaries_behind()
        assert engine.summarize_pending() == 0  # the watermark moved past them


def test_summaries_caught_up_equal_those_made_at_ingest(tmp_path: Path) -> None:
    """The same documents get the same summaries whether they come in one large run
    (summaries after indexing) or in small runs (summary made with each document)."""
    rows = _rows(600)
    payloads = []
    small = [rows[i : i + 200] for i in range(0, len(rows), 200)]
    for name, chunks in (("large", [rows]), ("small", small)):
        settings = load_settings(
            home=tmp_path / name, environ={}, overrides={"embedder": "none", "ingest_workers": 1}
        )
        with open_engine(settings) as engine:
            for k, chunk in enumerate(chunks):
                path = write_jsonl(tmp_path / f"{name}{k}.jsonl", chunk)
                report = engine.ingest_paths([path])
                made = engine.status()["documents"] if name == "large" else 0
                assert report.summarized == made
            assert engine.status()["summarized"] == engine.status()["documents"]
        payloads.append(
            [row[4] for row in _dump(tmp_path / name)]  # the summaries' JSON, by document
        )
    assert len(payloads[0]) > 500
    assert payloads[0] == payloads[1]


def test_summaries_left_by_a_stopped_ingest_are_caught_up_on_start(tmp_path: Path) -> None:
    """An ingest stopped after storing (here: its summaries deferred) leaves a watermark
    behind; a server's start-up catch-up summarizes every such document."""
    path = write_jsonl(tmp_path / "in.jsonl", _rows(300))
    overrides = {"embedder": "none", "ingest_workers": 1}
    settings = load_settings(home=tmp_path / "home", environ={}, overrides=overrides)
    with open_engine(settings) as engine:
        engine.ingest_paths([path], defer_summaries=True)
        assert engine.status()["summarized"] == 0
    with open_engine(settings) as engine:
        assert engine.summaries_behind()
        thread = engine.catch_up_in_background()
        assert thread is not None
        thread.join()
        assert engine.catch_up_error == ""
        assert engine.status()["summarized"] == engine.status()["documents"] > 300
        assert not engine.summaries_behind()
        assert engine.catch_up_in_background() is None  # nothing left to do


def test_ingest_workers_run_below_the_writers_priority() -> None:
    """The writer is the bottleneck: its helpers must not take its core. (In a fresh
    process: workers fork only from a process with a single Python thread.)"""
    script = (
        "import os\n"
        "from newsdesk.pipeline import WORKER_NICENESS, Preparer\n"
        "from newsdesk.summarize.extractive import ExtractiveSummarizer\n"
        "with Preparer(ExtractiveSummarizer, ExtractiveSummarizer(), 2) as preparer:\n"
        "    pool = preparer._started()\n"
        "    assert pool is not None, 'no worker pool'\n"
        "    seen = sorted(set(pool.map(os.nice, [0] * 8, chunksize=1)))\n"
        "print(os.nice(0), WORKER_NICENESS, *seen)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    own, step, *seen = (int(v) for v in done.stdout.split())
    assert seen == [min(19, own + step)]
    assert own == 19 or seen[0] > own
