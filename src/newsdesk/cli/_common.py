"""What every command module shares: consoles, state, error handling, progress bars.

The command modules import nothing heavy at module level: ``newsdesk --help``, every
subcommand's ``--help`` and usage errors must not load the engine (numpy, tantivy,
jieba, the embedders). :func:`open_engine` imports it on first use, and commands
import what else they need (views, search, evaluation) inside their bodies.
"""

from __future__ import annotations

import functools
import json
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

import click
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.text import Text

from newsdesk.config import Settings, load_settings
from newsdesk.errors import NewsdeskError

if TYPE_CHECKING:
    from newsdesk.engine import Engine

F = TypeVar("F", bound=Callable[..., Any])
CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100}

# The reader's language: summaries and titles shown in it (translated when a translator
# is configured), or each document's own with "original".
LANG_OPTION = click.option(
    "--lang",
    "language",
    type=click.Choice(["en", "zh", "original"]),
    default=None,
    help="Show summaries and titles in this language [setting: summary_language, en].",
)
TRANSLATOR_OPTION = click.option(
    "--translator",
    type=click.Choice(["auto", "llm", "libretranslate", "none"]),
    default=None,
    help="Who translates: an OpenAI-compatible LLM endpoint or a LibreTranslate server"
    " [setting: translator, auto].",
)

out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False)


class State:
    def __init__(self, home: str | None, debug: bool) -> None:
        self.home = home
        self.debug = debug

    def settings(self, **overrides: Any) -> Settings:
        return load_settings(self.home, overrides)


def open_engine(settings: Settings, **kwargs: Any) -> Engine:
    """:func:`newsdesk.engine.open_engine`, with the engine imported on first use."""
    from newsdesk.engine import open_engine as open_real  # heavy: numpy, tantivy, models

    return open_real(settings, **kwargs)


def handle_errors(fn: F) -> F:
    """Library errors become one line on stderr and exit code 1 (tracebacks with --debug)."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except NewsdeskError as exc:
            ctx = click.get_current_context()
            if ctx.find_object(State) and ctx.find_object(State).debug:  # type: ignore[union-attr]
                raise
            err.print(Text(f"error: {exc}", style="bold red"))
            sys.exit(1)

    return wrapper  # type: ignore[return-value]


def print_json(data: Any) -> None:
    click.echo(json.dumps(data, ensure_ascii=False, indent=2))


def progress_bar(auto_refresh: bool = True) -> Progress:
    """A progress bar on stderr, shown only when stderr is a terminal.

    With ``auto_refresh=False`` no refresh thread runs (the caller refreshes): ingest
    needs that, since it forks worker processes only from a single-threaded process.
    """
    return Progress(
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err,
        transient=True,
        auto_refresh=auto_refresh,
        disable=not err.is_terminal,
    )
