"""Several server processes on one home and one port (``newsdesk serve --workers N``).

Python runs one request's ranking at a time per process (the GIL), so one process
uses about one core whatever its threads. With ``--workers N`` uvicorn binds the
port once and starts N processes that accept on it; each opens the home itself. The
vector matrix and the graph are memory-mapped files, so the processes share those
pages; each holds its own model, caches and Python heap.

Exactly one of a home's server processes does the background work, the one that
holds the lock file ``<home>/serve.lock`` (``fcntl.flock``, released by the kernel
when its process ends): catching the lexical index and the embeddings up, writing
the vector files and growing the graph. The others only read what it writes; if it
stops, the next of them to refresh takes the lock and the work over (and uvicorn
starts a replacement process). Writes that a request asks for (ingest, delete) are
made by the process that answers it, under the store's and the index's own locks,
as for any two processes on one home.

A worker process accepts connections only once warm (its models and indexes
loaded, one search run), so with several workers no request meets a cold one.
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import json
import os
import shutil
import sys
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from newsdesk.config import Settings, load_settings
from newsdesk.errors import ConfigError

LOCK_NAME = "serve.lock"
SETTINGS_ENV = "NEWSDESK_SERVE_SETTINGS_FILE"
MAX_WORKERS = 64


class BackgroundRole:
    """Whether this process is the one of a home's servers that does background work."""

    def __init__(self, home: Path) -> None:
        self.path = home / LOCK_NAME
        self._fh: IO[bytes] | None = None
        self._lock = threading.Lock()

    @property
    def held(self) -> bool:
        return self._fh is not None

    def try_take(self) -> bool:
        """Take the role if no other process holds it; True if this process has it."""
        with self._lock:
            if self._fh is not None:
                return True
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fh = open(self.path, "a+b")  # noqa: SIM115 (held for the process's life)
            try:
                fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                fh.close()
                return False
            self._fh = fh
            return True

    def release(self) -> None:
        with self._lock:
            if self._fh is not None:
                fcntl.flock(self._fh, fcntl.LOCK_UN)
                self._fh.close()
                self._fh = None


def worker_count(value: str, cores: int | None = None) -> int:
    """``--workers``: a number from 1 to 64, or ``auto`` (one per usable core)."""
    text = value.strip().lower()
    if text == "auto":
        return max(1, cores if cores is not None else len(os.sched_getaffinity(0)))
    if not text.isdigit() or not 1 <= int(text) <= MAX_WORKERS:
        raise ConfigError(
            f"--workers must be auto or a number from 1 to {MAX_WORKERS}, got {value!r}"
        )
    return int(text)


def _settings_json(settings: Settings, threads: int | None) -> str:
    values = dataclasses.asdict(settings)
    values["home"] = str(settings.home)
    return json.dumps({"settings": values, "threads": threads})


def settings_from_file(path: Path) -> tuple[Settings, int | None]:
    """The settings (and request threads) a parent wrote for its workers, validated
    like any others."""
    try:
        data: Any = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ConfigError(f"cannot read the server's settings from {path}: {exc}") from exc
    values = data.get("settings") if isinstance(data, dict) else None
    threads = data.get("threads") if isinstance(data, dict) else None
    if (
        not isinstance(values, dict)
        or not isinstance(values.get("home"), str)
        or not (threads is None or (isinstance(threads, int) and threads >= 1))
    ):
        raise ConfigError(f"{path}: not a newsdesk server's settings")
    home = values.pop("home")
    # Every value is given, so neither the environment nor the config file changes it.
    return load_settings(home, overrides=values, environ={}), threads


@contextlib.contextmanager
def settings_file(settings: Settings, threads: int | None = None) -> Iterator[Path]:
    """The settings in a file only this user can read, for the worker processes.

    Not on the command line (any user can list that) and not in the environment one
    variable per setting: the file holds the tokens and API keys too. Removed on exit.
    """
    folder = Path(tempfile.mkdtemp(prefix="newsdesk-serve-"))  # mode 0700
    try:
        path = folder / "settings.json"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(_settings_json(settings, threads))
        yield path
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _print_worker_ready(warm: Any) -> None:
    from newsdesk.web.app import freeze_heap

    freeze_heap()
    engine = warm.engine
    role = "background work" if engine.background else "searches only"
    problem = f" (warm-up failed: {warm.error})" if warm.error else ""
    print(
        f"worker {os.getpid()} ready ({role}): warm after {warm.seconds:.1f} s{problem}",
        file=sys.stderr,
        flush=True,
    )


def worker_app() -> Any:
    """The app of one worker process (uvicorn's factory, run in each worker).

    Returns only when warm: uvicorn accepts on the shared socket after this, so
    a cold worker never takes a connection.
    """
    from threadpoolctl import threadpool_limits

    from newsdesk.web.app import create_app

    path = os.environ.get(SETTINGS_ENV)
    if not path:
        raise ConfigError(f"{SETTINGS_ENV} is not set: start workers with newsdesk serve --workers")
    settings, threads = settings_from_file(Path(path))
    # Requests already run in parallel threads and processes (see newsdesk.cli._serve).
    threadpool_limits(limits=1)
    role = BackgroundRole(settings.home)
    role.try_take()
    app = create_app(settings, on_ready=_print_worker_ready, role=role, threads=threads)
    app.state.warm_up.wait()
    return app


def serve_workers(settings: Settings, workers: int, threads: int | None = None) -> None:
    """Serve with ``workers`` processes on ``settings.port`` until Ctrl-C (or SIGTERM),
    which stops them all."""
    import uvicorn

    with settings_file(settings, threads) as path:
        os.environ[SETTINGS_ENV] = str(path)
        try:
            uvicorn.run(
                "newsdesk.web.workers:worker_app",
                factory=True,
                host=settings.host,
                port=settings.port,
                workers=workers,
                http="newsdesk.web.nodelay:NoDelayH11Protocol",
                log_level="warning",
                access_log=False,
            )
        finally:
            os.environ.pop(SETTINGS_ENV, None)


__all__ = [
    "LOCK_NAME",
    "BackgroundRole",
    "serve_workers",
    "settings_from_file",
    "worker_app",
    "worker_count",
]
