"""The README's tour works as written after `make demo`, and the sample is news only."""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path

import pytest
from click.testing import CliRunner

from newsdesk.cli import cli
from newsdesk.engine import sample_corpus_path

ROOT = Path(__file__).resolve().parents[1]
TOUR_PREFIX = [".venv/bin/newsdesk", "--home", ".newsdesk-demo"]


def _tour_commands() -> list[list[str]]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```text\n(.*?)```", text, flags=re.DOTALL)
    return [
        shlex.split(line[2:]) for b in blocks for line in b.splitlines() if line.startswith("$ ")
    ]


def test_the_tour_uses_the_home_make_demo_fills() -> None:
    commands = _tour_commands()
    assert len(commands) >= 3
    for argv in commands:
        assert argv[:3] == TOUR_PREFIX, argv
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    assert "HOME_DIR ?= $(CURDIR)/.newsdesk-demo" in makefile
    assert '--home "$(HOME_DIR)" demo' in makefile


@pytest.mark.slow
def test_the_tour_runs_as_written(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # the repository folder, as far as the tour can tell
    monkeypatch.delenv("NEWSDESK_HOME", raising=False)
    runner = CliRunner()
    shown = []
    for argv in _tour_commands():
        result = runner.invoke(cli, argv[1:], catch_exceptions=False)
        assert result.exit_code == 0, (argv, result.output)
        shown.append(result)
        if argv[3] in ("demo", "search"):
            total = re.search(r"(\d+) relevant result\(s\)", " ".join(result.stderr.split()))
            assert total and int(total[1]) > 0, (argv, result.stderr)
            assert "1. " in result.stdout
    # The demo names the next commands with its own home; they work too.
    hints = [
        shlex.split(line.strip())
        for line in shown[0].stderr.splitlines()
        if line.strip().startswith("newsdesk --home")
    ]
    assert len(hints) == 3
    for argv in hints[:2]:
        assert argv[:3] == ["newsdesk", "--home", ".newsdesk-demo"]
        assert runner.invoke(cli, [*argv[1:], "--json"]).exit_code == 0


def test_the_sample_is_news_and_the_hostile_fixtures_are_in_tests() -> None:
    rows = [json.loads(line) for line in sample_corpus_path().read_text("utf-8").splitlines()]
    assert len(rows) == 59
    markup = re.compile(r"<\s*(script|img|iframe|svg)|onerror|javascript:", re.IGNORECASE)
    for row in rows:
        text = " ".join([row["title"], *row["paragraphs"]])
        assert not markup.search(text), row["id"]
        assert "test" not in row["id"]
    fixtures = (ROOT / "tests" / "fixtures" / "hostile.jsonl").read_text("utf-8")
    assert markup.search(fixtures)
