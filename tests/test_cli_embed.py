"""CLI: deferred embeddings for bulk loads, `newsdesk embed`, status, search modes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from click.testing import CliRunner

from conftest import write_jsonl
from newsdesk.cli import cli

ENV = {"NEWSDESK_EMBEDDER": "hashing"}


def run(home: Path, *args: str, code: int = 0, env: dict[str, str] | None = None) -> Any:
    result = CliRunner().invoke(cli, ["--home", str(home), *args], env=env or ENV)
    assert result.exit_code == code, result.output
    return result


def _rows(n: int) -> list[dict[str, object]]:
    return [
        {"id": f"d{i}", "title": f"芯片新闻第{i}条", "paragraphs": [f"芯片企业公布第{i}项计划。"]}
        for i in range(n)
    ]


def test_deferred_ingest_then_embed(home: Path, tmp_path: Path) -> None:
    src = write_jsonl(tmp_path / "a.jsonl", _rows(5))
    report = json.loads(run(home, "ingest", str(src), "--defer-embeddings", "--json").stdout)
    assert report["counts"]["accepted"] == 5 and report["embedded"] == 0
    status = json.loads(run(home, "status", "--json").stdout)
    assert (status["documents"], status["indexed"], status["embedded"]) == (5, 5, 0)
    found = json.loads(run(home, "search", "芯片", "--json").stdout)
    assert found["total"] == 5 and found["retrieval"] == "lexical"

    done = json.loads(run(home, "embed", "--json").stdout)
    assert done == {"embedded_now": 5, "embedded": 5, "documents": 5}
    assert json.loads(run(home, "embed", "--json").stdout)["embedded_now"] == 0
    assert json.loads(run(home, "search", "芯片", "--json").stdout)["retrieval"] == "hybrid"
    rebuilt = json.loads(run(home, "embed", "--rebuild", "--json").stdout)
    assert rebuilt["embedded_now"] == 5


def test_default_ingest_embeds_and_mismatch_is_reported(home: Path, tmp_path: Path) -> None:
    src = write_jsonl(tmp_path / "a.jsonl", _rows(3))
    report = json.loads(run(home, "ingest", str(src), "--json").stdout)
    assert report["embedded"] == 3
    status = json.loads(run(home, "status", "--json", env={"NEWSDESK_EMBEDDER": "use-m3"}).stdout)
    assert status["embedded"] == 0 and "embed --rebuild" in status["vector_index"]
    assert status["backends"]["embedder"].startswith("use-m3")


def test_bad_mode_and_unreachable_embedder_are_one_line_errors(home: Path, tmp_path: Path) -> None:
    run(home, "search", "x", "--mode", "fuzzy", code=2)
    src = write_jsonl(tmp_path / "a.jsonl", _rows(2))
    env = {
        "NEWSDESK_EMBEDDER": "http",
        "NEWSDESK_EMBED_BASE_URL": "http://127.0.0.1:9/v1",
        "NEWSDESK_EMBED_MODEL": "m",
    }
    failed = run(home, "ingest", str(src), env=env, code=1)
    assert "error:" in failed.output and "Traceback" not in failed.output
    # The documents were stored and indexed before embedding failed: words find them.
    found = json.loads(run(home, "search", "芯片", "--json", "--mode", "lexical").stdout)
    assert found["total"] == 2
