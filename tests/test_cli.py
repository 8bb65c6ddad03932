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
    ingest = json.loads(run(home, "ingest", str(src), "--json").stdout)
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
    run(home, "ingest", str(src), "--failures", str(out))
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
