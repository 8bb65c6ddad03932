"""``newsdesk feeds``: follow RSS, Atom and JSON feeds by URL or file, and poll them."""

from __future__ import annotations

import re
import time
from datetime import timedelta
from typing import TYPE_CHECKING

import click
from rich.table import Table
from rich.text import Text

from newsdesk.cli._common import (
    CONTEXT,
    State,
    err,
    handle_errors,
    open_engine,
    out,
    print_json,
    progress_bar,
)
from newsdesk.errors import InputError

if TYPE_CHECKING:
    from newsdesk.engine import Engine
    from newsdesk.models import FeedPoll, IngestResult

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*$", re.IGNORECASE)
_UNIT = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(text: str) -> timedelta:
    """``90``, ``90s``, ``15m``, ``2h``, ``1d`` as a time span (at least one second).

    Raises:
        InputError: not a duration.
    """
    m = _DURATION.match(text)
    if not m:
        raise InputError(f"duration must look like 90s, 15m, 2h or 1d, got {text!r}")
    seconds = float(m.group(1)) * _UNIT[m.group(2).lower()]
    if seconds < 1:
        raise InputError("duration must be at least one second")
    return timedelta(seconds=seconds)


@click.group("feeds", context_settings=CONTEXT)
def feeds_group() -> None:
    """Follow feeds (RSS 0.9x/1.0/2.0, Atom, JSON Feed) by URL or file and poll them."""


@feeds_group.command("add", context_settings=CONTEXT)
@click.argument("target")
@click.option("--json", "as_json", is_flag=True, help="Print the feed as JSON.")
@click.pass_obj
@handle_errors
def feeds_add(state: State, target: str, as_json: bool) -> None:
    """Follow the feed at TARGET, an http(s) URL or a feed file; poll it with `feeds poll`."""
    with open_engine(state.settings()) as engine:
        info, added = engine.add_feed(target)
    if as_json:
        print_json({**info.to_json(), "added": added})
        return
    err.print(f"{'following' if added else 'already following'} {info.url}")


@feeds_group.command("remove", context_settings=CONTEXT)
@click.argument("target")
@click.pass_obj
@handle_errors
def feeds_remove(state: State, target: str) -> None:
    """Stop following the feed at TARGET (URL or file); its documents stay."""
    with open_engine(state.settings()) as engine:
        removed = engine.remove_feed(target)
    if not removed:
        raise InputError(f"not following {target}")
    err.print(f"stopped following {target}")


@feeds_group.command("list", context_settings=CONTEXT)
@click.option("--json", "as_json", is_flag=True, help="Print the feeds as JSON.")
@click.pass_obj
@handle_errors
def feeds_list(state: State, as_json: bool) -> None:
    """List followed feeds with their last poll, item counts and error state."""
    with open_engine(state.settings()) as engine:
        feeds = engine.feeds()
    if as_json:
        print_json({"feeds": [f.to_json() for f in feeds]})
        return
    table = Table(show_header=True)
    for column in ("url", "title", "last polled", "status", "items", "accepted", "errors"):
        table.add_column(column)
    for f in feeds:
        status = f.last_status or "never polled"
        if f.error_count:
            status = f"error: {f.last_error[:60]}"
        table.add_row(
            f.url,
            f.title,
            f.last_polled or "-",
            status,
            str(f.items_seen),
            str(f.accepted),
            str(f.error_count),
        )
    out.print(table)


def _poll_once(engine: Engine, backoff: timedelta | None) -> list[FeedPoll]:
    with progress_bar(auto_refresh=False) as progress:
        task = progress.add_task("polling", total=None)
        last = 0.0

        def tick(result: IngestResult) -> None:
            nonlocal last
            progress.advance(task)
            if time.monotonic() - last > 0.2:
                progress.refresh()
                last = time.monotonic()

        return engine.poll_feeds(tick, backoff=backoff)


def _print_polls(polls: list[FeedPoll]) -> None:
    for p in polls:
        if p.status == "ok":
            counts = ", ".join(f"{k} {v}" for k, v in p.counts.items() if v)
            err.print(f"{p.url}: {p.items} item(s): {counts or 'nothing new'}")
        elif p.status == "error":
            err.print(Text(f"{p.url}: error: {p.error}", style="yellow"))
        else:
            err.print(f"{p.url}: {p.status.replace('_', ' ')}")


@feeds_group.command("poll", context_settings=CONTEXT)
@click.option(
    "--every",
    "every",
    default=None,
    help="Keep polling at this interval (90s, 15m, 2h, 1d) until interrupted.",
)
@click.option(
    "--max-polls",
    type=click.IntRange(1),
    default=None,
    help="With --every, stop after this many rounds.",
)
@click.option("--json", "as_json", is_flag=True, help="Print each round's results as JSON.")
@click.pass_obj
@handle_errors
def feeds_poll(state: State, every: str | None, max_polls: int | None, as_json: bool) -> None:
    """Fetch every followed feed (conditional requests) and ingest new items.

    A feed that fails keeps its error state (see `feeds list`); with --every, a feed
    that keeps failing is polled less often (doubling the wait, at most a day).
    """
    interval = parse_duration(every) if every else None
    rounds = 0
    with open_engine(state.settings()) as engine:
        while True:
            polls = _poll_once(engine, interval)
            rounds += 1
            if as_json:
                print_json({"round": rounds, "feeds": [p.to_json() for p in polls]})
            else:
                _print_polls(polls)
            if interval is None or (max_polls is not None and rounds >= max_polls):
                break
            time.sleep(interval.total_seconds())
