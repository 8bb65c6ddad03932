"""``newsdesk worker`` and ``newsdesk jobs``: drain the shared queue, look at it."""

from __future__ import annotations

import signal
from datetime import timedelta
from types import FrameType
from typing import TYPE_CHECKING

import click
from rich.table import Table
from rich.text import Text

from newsdesk.cli._common import CONTEXT, State, err, handle_errors, open_engine, out, print_json
from newsdesk.cli.feeds import parse_duration

if TYPE_CHECKING:
    from newsdesk.store import JobState

# newsdesk.store.JOB_STATES, spelled out so that `--help` needs no store module
# (tests/test_startup.py checks that they agree).
JOB_STATES = ("queued", "running", "done", "failed")


@click.command("worker", context_settings=CONTEXT)
@click.option(
    "--until-idle",
    is_flag=True,
    help="Exit once no job or feed is due or held by another worker (for scripts and tests).",
)
@click.option(
    "--lease",
    default=None,
    help="How long a claimed item stays ours without renewal (60s) [setting: worker_lease].",
)
@click.option(
    "--feed-interval",
    default=None,
    help="How often each feed is polled (15m) [setting: feed_interval].",
)
@click.option(
    "--idle-sleep",
    type=click.FloatRange(0.05, 3600),
    default=2.0,
    show_default=True,
    help="Seconds between looks at the queue when nothing is due.",
)
@click.option(
    "--max-items",
    type=click.IntRange(1),
    default=None,
    help="Stop after this many jobs and feed polls.",
)
@click.option("--json", "as_json", is_flag=True, help="Print what the worker did as JSON at exit.")
@click.pass_obj
@handle_errors
def worker(
    state: State,
    until_idle: bool,
    lease: str | None,
    feed_interval: str | None,
    idle_sleep: float,
    max_items: int | None,
    as_json: bool,
) -> None:
    """Claim due feeds and queued jobs from the store and ingest them, until stopped.

    Run any number of workers on any number of machines against one PostgreSQL store
    (store_url); on SQLite, workers share one machine. Each item is claimed with a
    lease that the worker renews while it works: a killed worker's items are taken
    over by the others when the lease runs out. Queue work with `newsdesk ingest
    --queue` and `newsdesk feeds add`; watch it with `newsdesk status`. SIGTERM or
    Ctrl-C finishes the current item, then exits.
    """
    from newsdesk.worker import Worker, WorkerOptions

    settings = state.settings()
    options = WorkerOptions(
        lease=parse_duration(lease) if lease else timedelta(seconds=settings.worker_lease),
        feed_interval=parse_duration(feed_interval)
        if feed_interval
        else timedelta(seconds=settings.feed_interval),
        until_idle=until_idle,
        idle_sleep=idle_sleep,
        max_items=max_items,
    )
    with open_engine(settings) as engine:
        runner = Worker(engine, options, log=lambda msg: err.print(Text(msg), highlight=False))

        def stop(signum: int, frame: FrameType | None) -> None:
            err.print(f"worker {runner.id}: finishing the current item, then stopping")
            runner.stop.set()

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        err.print(f"worker {runner.id} on {engine.store.describe()}")
        report = runner.run()
    if as_json:
        print_json(report.to_json())
        return
    err.print(
        f"worker {report.worker_id}: {report.jobs_done} job(s) done, {report.jobs_failed}"
        f" failed, {report.feeds_polled} feed poll(s); "
        + ", ".join(f"{k} {v}" for k, v in report.counts.items() if v)
    )


@click.group("jobs", context_settings=CONTEXT)
def jobs_group() -> None:
    """Look at the work queue: jobs (`ingest --queue`) and inputs workers could not ingest."""


@jobs_group.command("list", context_settings=CONTEXT)
@click.option(
    "--state", "job_state", type=click.Choice(JOB_STATES), help="Only jobs in this state."
)
@click.option("--limit", type=click.IntRange(1, 10000), default=50, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print the jobs as JSON.")
@click.pass_obj
@handle_errors
def jobs_list(state: State, job_state: JobState | None, limit: int, as_json: bool) -> None:
    """List jobs, newest first, with their state, attempts, counts and last error."""
    with open_engine(state.settings()) as engine:
        jobs = engine.jobs.list_jobs(job_state, limit)
    if as_json:
        print_json({"jobs": [j.to_json() for j in jobs]})
        return
    table = Table(show_header=True)
    for column in ("id", "state", "target", "attempts", "outcome", "error"):
        table.add_column(column)
    for j in jobs:
        counts = ", ".join(f"{k} {v}" for k, v in j.counts.items() if v)
        table.add_row(
            str(j.id), j.state, j.target, f"{j.attempts}/{j.max_attempts}", counts, j.error[:80]
        )
    out.print(table)


@jobs_group.command("failures", context_settings=CONTEXT)
@click.option("--limit", type=click.IntRange(1, 10000), default=50, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print the failures as JSON.")
@click.pass_obj
@handle_errors
def jobs_failures(state: State, limit: int, as_json: bool) -> None:
    """Inputs the workers could not ingest (bad feed items, lines, pages), newest first."""
    with open_engine(state.settings()) as engine:
        failures = engine.jobs.failures(limit)
    if as_json:
        print_json({"failures": [f.to_json() for f in failures]})
        return
    for f in failures:
        out.print(Text(f"{f.at} {f.source} {f.outcome}: {f.origin}: {f.reason}"))
