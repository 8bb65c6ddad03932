"""The command line: JSON contracts, exit codes, help on every command."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click
import pytest
from click.testing import CliRunner

from conftest import write_jsonl
from newsdesk.cli import cli


def run(home: Path, *args: str, code: int = 0) -> Any:
    result = CliRunner().invoke(cli, ["--home", str(home), *args], catch_exceptions=False)
    assert result.exit_code == code, result.output + result.stderr
    return result


def test_ingest_search_show_status_json_contract(home: Path, tmp_path: Path) -> None:
    src = write_jsonl(
        tmp_path / "a.jsonl",
        [
            {
                "id": "x1",
                "title": "欧洲追求技术主权",
                "source": "样例",
                "url": "https://example.com/x1",
                "published_at": "2025-09-10T06:21:00+08:00",
                "paragraphs": [
                    "欧盟提出芯片法案，计划投入430亿欧元。",
                    "法案旨在提升欧洲技术主权。",
                ],
            },
            "broken line",
        ],
    )
    # One line failed: the rest is ingested, and the exit status says so.
    ingest = json.loads(run(home, "ingest", str(src), "--json", code=1).stdout)
    assert ingest["counts"]["accepted"] == 1 and ingest["counts"]["failed"] == 1
    assert ingest["problems"][0]["origin"].endswith("a.jsonl:2")

    data = json.loads(run(home, "search", "技术主权", "--json").stdout)
    assert set(data) >= {"query", "total", "results"}
    assert data["query"] == "技术主权" and data["total"] == 1
    hit = data["results"][0]
    assert set(hit) >= {
        "id",
        "title",
        "source",
        "published_at",
        "url",
        "lang",
        "score",
        "duplicates",
        "summary",
    }
    assert hit["published_at"] == "2025-09-10T06:21:00+08:00"
    assert set(hit["summary"]) >= {"language", "summarizer", "sections"}
    for section in hit["summary"]["sections"]:
        assert set(section) >= {"title", "bullets"}
        for bullet in section["bullets"]:
            assert isinstance(bullet["text"], str)
            assert all(isinstance(c, int) for c in bullet["citations"])

    shown = json.loads(run(home, "show", "x1", "--json").stdout)
    assert shown["paragraphs"] == [
        {"n": 1, "text": "欧盟提出芯片法案，计划投入430亿欧元。"},
        {"n": 2, "text": "法案旨在提升欧洲技术主权。"},
    ]
    assert shown["summary"]["sections"]

    status = json.loads(run(home, "status", "--json").stdout)
    assert status["documents"] == status["indexed"] == status["summarized"] == 1
    assert status["home"] == str(home)


def test_failures_file(home: Path, tmp_path: Path) -> None:
    src = write_jsonl(tmp_path / "a.jsonl", ["nope", {"title": "t"}])
    out = tmp_path / "failures.jsonl"
    run(home, "ingest", str(src), "--failures", str(out), code=1)
    lines = [json.loads(x) for x in out.read_text(encoding="utf-8").splitlines()]
    assert [x["origin"].rsplit(":", 1)[1] for x in lines] == ["1", "2"]


def test_human_output_and_errors(home: Path) -> None:
    run(home, "demo", "--no-serve")
    text = run(home, "search", "技术主权").stdout
    assert "Core Viewpoint" in text and "[1]" in text
    missing = run(home, "show", "no-such-doc", code=1)
    assert "document not found: no-such-doc" in missing.stderr
    assert "Traceback" not in missing.output
    bad = run(home, "search", "x", "--since", "someday", code=1)
    assert "since must be a date" in bad.stderr


def test_config_precedence(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    home.mkdir(parents=True)
    (home / "config.toml").write_text("default_limit = 5\nport = 9000\n", encoding="utf-8")
    monkeypatch.setenv("NEWSDESK_PORT", "9100")
    data = json.loads(run(home, "config", "--json").stdout)
    assert data["default_limit"] == 5 and data["port"] == 9100
    (home / "config.toml").write_text("no_such_setting = 1\n", encoding="utf-8")
    assert "unknown setting" in run(home, "config", code=1).stderr


def _commands(group: click.Group, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    out = []
    for name, cmd in group.commands.items():
        out.append((*prefix, name))
        if isinstance(cmd, click.Group):
            out.extend(_commands(cmd, (*prefix, name)))
    return out


@pytest.mark.parametrize("path", _commands(cli))
def test_every_command_has_help(path: tuple[str, ...]) -> None:
    cmd: click.Command = cli
    for name in path:
        assert isinstance(cmd, click.Group)
        cmd = cmd.commands[name]
    assert cmd.help and len(cmd.help.strip()) > 20
    result = CliRunner().invoke(cli, [*path, "--help"])
    assert result.exit_code == 0 and "Usage:" in result.output


def test_version() -> None:
    result = CliRunner().invoke(cli, ["--version"])
    assert result.exit_code == 0 and "newsdesk" in result.output


def _flat(text: str) -> str:
    """Console output with rich's line wrapping undone."""
    return " ".join(text.split())


def _two_docs(tmp_path: Path) -> Path:
    return write_jsonl(
        tmp_path / "two.jsonl",
        [
            {
                "id": f"c{i}",
                "title": f"稀土出口管制第{i}篇",
                "published_at": f"2025-10-0{i}T08:00:00+08:00",
                "paragraphs": [f"商务部宣布稀土出口管制措施，涉及{i}类物项。"],
            }
            for i in (1, 2)
        ],
    )


def test_ingest_exit_status_and_summary_line(home: Path, tmp_path: Path) -> None:
    good = _two_docs(tmp_path)
    done = run(home, "ingest", str(good))
    assert done.stderr.strip().splitlines()[-1] == "done: 2 input(s): 2 accepted"
    missing = run(home, "ingest", str(tmp_path / "no-such.jsonl"), code=1)
    assert "no such file or folder" in _flat(missing.stderr)
    assert missing.stderr.strip().splitlines()[-1] == "failed: 1 input(s): 1 failed"
    invalid = write_jsonl(tmp_path / "bad.jsonl", ["{not json", {"title": "no body"}])
    mixed = run(home, "ingest", str(good), str(invalid), code=1)
    assert mixed.stderr.strip().splitlines()[-1] == "failed: 4 input(s): 2 unchanged, 2 failed"
    as_json = run(home, "ingest", str(invalid), "--json", code=1)
    assert json.loads(as_json.stdout)["counts"]["failed"] == 2


def test_search_says_why_instead_of_a_silent_zero(home: Path, tmp_path: Path) -> None:
    run(home, "ingest", str(_two_docs(tmp_path)))
    empty = CliRunner().invoke(cli, ["--home", str(home), "search", ""])
    assert empty.exit_code == 2 and "no query" in empty.stderr and "--browse" in empty.stderr
    browsed = json.loads(run(home, "search", "--browse", "--json").stdout)
    assert [h["id"] for h in browsed["results"]] == ["c2", "c1"]
    assert browsed["retrieval"] == "browse"
    both = CliRunner().invoke(cli, ["--home", str(home), "search", "稀土", "--browse"])
    assert both.exit_code == 2
    # --lang is the reader's language: one newsdesk cannot show is a usage error.
    reader = run(home, "search", "稀土", "--lang", "fr", code=2)
    assert "'en', 'zh', 'original'" in _flat(reader.stderr)
    french = run(home, "search", "稀土", "--doc-lang", "fr", code=1)
    message = _flat(french.stderr)
    assert "no documents in language 'fr'" in message
    assert "zh, en, mixed" in message and "this home has zh" in message
    quoted = run(home, "search", '"稀土 出口管制')
    assert "unclosed quote" in _flat(quoted.stderr)
    assert "2 relevant result(s)" in _flat(quoted.stderr)
    data = json.loads(run(home, "search", '"稀土 出口管制', "--json").stdout)
    assert data["total"] == 2 and "unclosed quote" in data["notes"][0]
