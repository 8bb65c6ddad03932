"""Worker processes change nothing but speed: same stories, summaries and index."""

from __future__ import annotations

import os
import random
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import write_jsonl
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
