"""Crash safety and concurrency: kill -9 mid-ingest, rerun; search while ingesting."""

from __future__ import annotations

import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner

from conftest import LiveServer, write_jsonl
from newsdesk import SearchRequest, Settings, load_settings, open_engine
from newsdesk.cli import cli
from newsdesk.search import parse_query

N_DOCS = 3000
# Common characters to write random but plausible Chinese sentences with.
CHARS = (
    "的一是在不了有和人这中大为上个国我以要他时来用们生到作地于出就分对成会可主发年动同工也能下"
    "过子说产种面而方后多定行学法所民得经十三之进着等部度家电力里如水化高自二理起小物现实加量都两"
    "体制机当使点从业本去把性好应开它合还因由其些然前外天政四日那社义事平形相全表间样与关各重新线"
    "内数正心反你明看原又么利比或但质气第向道命此变条只没结解问意建月公无系军很情者最立代想已通并"
    "提直题党程展五果料象员革位入常文总次品式活设及管特件长求老头基资边流路级少图山统接知较将组见"
    "计别她手角期根论运农指几九区强放决西被干做必战先回则任取据处队南给色光门即保治北造百规热领七"
)
KEYWORD = "芯片出口管制"


def _doc(i: int, rng: random.Random) -> dict[str, object]:
    paragraphs = [
        "".join(rng.choice(CHARS) for _ in range(rng.randint(60, 140))) + "。" for _ in range(4)
    ]
    if i % 10 == 0:
        paragraphs[1] = f"{KEYWORD}，{paragraphs[1]}"
    return {
        "id": f"doc{i}",
        "title": f"第{i}号测试报道" + "".join(rng.choice(CHARS) for _ in range(8)),
        "published_at": f"2025-{1 + i % 12:02d}-{1 + i % 28:02d}",
        "paragraphs": paragraphs,
    }


def _count(db: Path) -> int:
    if not db.exists():
        return 0
    try:
        conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)
        try:
            return int(conn.execute("SELECT COUNT(*) FROM documents").fetchone()[0])
        finally:
            conn.close()
    except sqlite3.OperationalError:
        return 0  # not created or not migrated yet


# The hashing embedder is a real embedder (the protocol, fast): vectors are computed,
# stored and caught up exactly as with the default one, in a fraction of the time.
ENV = {**os.environ, "NEWSDESK_EMBEDDER": "hashing"}
# Safety nets for a machine that is far slower than expected; never the pass criterion.
SAFETY = 1800.0


def _settings(home: Path) -> Settings:
    return load_settings(home=home, environ={"NEWSDESK_EMBEDDER": "hashing"})


def _wait_for(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + SAFETY
    while not condition():
        assert time.monotonic() < deadline, f"gave up waiting: {what}"
        time.sleep(0.05)


def _ingest_cmd(home: Path, path: Path) -> list[str]:
    return [
        sys.executable,
        "-c",
        "from newsdesk.cli import main; main()",
        "--home",
        str(home),
        "ingest",
        str(path),
    ]


@pytest.mark.slow
def test_kill_9_mid_ingest_then_rerun_leaves_store_and_index_in_step(tmp_path: Path) -> None:
    rng = random.Random(3)
    path = write_jsonl(tmp_path / "big.jsonl", [_doc(i, rng) for i in range(N_DOCS)])
    home = tmp_path / "home"
    db = home / "newsdesk.sqlite3"
    # The reader opens the (empty) home first, as a running web server would have.
    reader = open_engine(_settings(home))
    log = (tmp_path / "ingest.log").open("wb")
    proc = subprocess.Popen(_ingest_cmd(home, path), stdout=subprocess.DEVNULL, stderr=log, env=ENV)
    searches: list[int] = []
    try:
        deadline = time.monotonic() + SAFETY
        # Search from this process while the other one ingests.
        while _count(db) < N_DOCS // 2:
            assert proc.poll() is None, (tmp_path / "ingest.log").read_text()
            assert time.monotonic() < deadline, "gave up waiting for the ingest"
            reader.refresh()
            searches.append(reader.search(SearchRequest(KEYWORD, limit=5)).total)
            time.sleep(0.02)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        log.close()
    assert proc.returncode == -signal.SIGKILL
    stored_at_kill = _count(db)
    assert 0 < stored_at_kill < N_DOCS
    assert searches, "no search ran while the ingest was running"

    _derived_indexes_catch_up_on_start(home, stored_at_kill)

    rerun = subprocess.run(
        [*_ingest_cmd(home, path), "--json"], capture_output=True, text=True, env=ENV
    )
    assert rerun.returncode == 0, rerun.stderr
    assert "Traceback" not in rerun.stderr
    counts = json.loads(rerun.stdout)["counts"]
    # The rerun redoes exactly what the killed run had not committed.
    assert counts["unchanged"] == stored_at_kill
    assert counts["accepted"] == N_DOCS - stored_at_kill
    assert counts["failed"] == counts["duplicate"] == 0

    with open_engine(_settings(home)) as engine:
        status = engine.status()
        assert status["documents"] == N_DOCS  # nothing lost, nothing twice
        assert status["indexed"] == N_DOCS
        assert status["summarized"] == N_DOCS
        assert status["embedded"] == N_DOCS and status["without_vectors"] == 0
        assert engine.lexical.num_docs() == N_DOCS  # no document indexed twice
        ids = engine.store.story_of([f"doc{i}" for i in range(N_DOCS)])
        assert len(ids) == N_DOCS
        # Every document with the keyword is found once (the index, not the capped page).
        phrase = parse_query(SearchRequest(f'"{KEYWORD}"'))
        hits = engine.lexical.search(phrase, limit=N_DOCS)
        assert len(hits) == len({h.id for h in hits}) == N_DOCS // 10
    reader.refresh()
    assert reader.search(SearchRequest(KEYWORD, limit=5)).total > searches[-1]
    # What the reader saw only grew while the ingest ran, and it saw documents of the
    # running ingest (indexed as it goes, every INDEX_EVERY documents).
    assert searches == sorted(searches)
    assert searches[-1] > 0
    reader.close()


def _derived_indexes_catch_up_on_start(home: Path, stored: int) -> None:
    """What a kill -9 left behind is told truthfully, and caught up on start."""
    # The killed ingest had embedded nothing yet (vectors come at its end); opening the
    # home catches the lexical index up at once, and says what lacks vectors.
    status = json.loads(
        subprocess.run(
            [*_ingest_cmd(home, Path("x"))[:-2], "status", "--json"],
            capture_output=True,
            text=True,
            env=ENV,
            check=True,
        ).stdout
    )
    assert status["documents"] == stored
    assert status["not_indexed"] == 0 and status["indexed"] == stored
    assert status["embedded"] == 0 and status["without_vectors"] == stored

    # A server started on the home embeds the rest in the background, and its health
    # says so until it is done.
    with open_engine(_settings(home)) as engine, LiveServer(engine) as server:
        first = httpx.get(server.url + "/api/v1/health").json()
        assert first["documents"] == stored and first["not_indexed"] == 0
        assert first["without_vectors"] + first["embedded"] == stored
        assert first["catching_up"] or first["without_vectors"] == 0

        def caught_up() -> bool:
            health = httpx.get(server.url + "/api/v1/health").json()
            return bool(health["without_vectors"] == 0 and not health["catching_up"])

        _wait_for(caught_up, "the server's vector catch-up")
        health = httpx.get(server.url + "/api/v1/health").json()
        assert health["embedded"] == stored
        semantic = httpx.get(
            server.url + "/api/v1/search", params={"q": KEYWORD, "limit": 5}
        ).json()
        assert semantic["retrieval"] == "hybrid" and semantic["total"] > 0


def test_health_tells_the_truth_while_vectors_catch_up(tmp_path: Path) -> None:
    """Documents stored without vectors (a deferred ingest, a crash) are counted as such,
    and a server embeds them in the background."""
    home = tmp_path / "home"
    rng = random.Random(5)
    path = write_jsonl(tmp_path / "few.jsonl", [_doc(i, rng) for i in range(40)])
    with open_engine(_settings(home)) as engine:
        assert engine.ingest_paths([path], defer_embeddings=True).embedded == 0
    found = CliRunner().invoke(
        cli,
        ["--home", str(home), "search", KEYWORD, "--json"],
        env={"NEWSDESK_EMBEDDER": "hashing"},
    )
    assert found.exit_code == 0, found.output
    assert "40 document(s) have no vectors yet" in json.loads(found.stdout)["notes"][0]
    with open_engine(_settings(home)) as engine:
        # Hold the catch-up back until the truth has been read.
        with engine._embed_lock, LiveServer(engine) as server:
            health = httpx.get(server.url + "/api/v1/health").json()
            assert health["documents"] == health["indexed"] == 40
            assert health["embedded"] == 0 and health["without_vectors"] == 40
            assert health["catching_up"] is True
            assert engine.status()["without_vectors"] == 40
        # (The server has stopped; the engine's catch-up thread goes on.)

        def done() -> bool:
            return not engine.catching_up

        _wait_for(done, "the vector catch-up")
        status = engine.status()
        assert status["embedded"] == 40 and status["without_vectors"] == 0
