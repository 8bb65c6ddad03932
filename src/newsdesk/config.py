"""Typed settings, built once at the edge and passed down.

Precedence, lowest first: defaults < ``<home>/config.toml`` < ``NEWSDESK_*``
environment variables < explicit overrides (CLI flags).
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any

import platformdirs

from newsdesk.errors import ConfigError

SORTS = ("newest", "relevance")


@dataclass(frozen=True, slots=True)
class Settings:
    """Effective settings of one newsdesk home."""

    home: Path
    ui_language: str = "en"
    summarizer: str = "extractive"
    default_sort: str = "newest"
    default_limit: int = 10
    # Hits scoring below this fraction of the best hit are not "about" the query;
    # newest-first ordering is applied only above this cut-off.
    relevance_floor: float = 0.3
    max_relevant: int = 200
    host: str = "127.0.0.1"
    port: int = 8000
    # Fetching pages and feeds: hostile or broken servers must not hang or flood us.
    fetch_timeout: float = 20.0
    fetch_max_bytes: int = 16 * 1024 * 1024
    fetch_max_redirects: int = 5
    user_agent: str = "newsdesk/0.1 (+self-hosted news reader)"
    # Worker processes for fingerprints and summaries in large ingests: 0 = one per
    # core (at most 4), 1 = none (everything in the calling process).
    ingest_workers: int = 0

    @property
    def db_path(self) -> Path:
        return self.home / "newsdesk.sqlite3"

    @property
    def index_dir(self) -> Path:
        return self.home / "index" / "lexical"

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            out[f.name] = str(value) if isinstance(value, Path) else value
        return out


def default_home() -> Path:
    return Path(platformdirs.user_data_dir("newsdesk", appauthor=False))


_CASTS: dict[str, type] = {
    "ui_language": str,
    "summarizer": str,
    "default_sort": str,
    "default_limit": int,
    "relevance_floor": float,
    "max_relevant": int,
    "host": str,
    "port": int,
    "fetch_timeout": float,
    "fetch_max_bytes": int,
    "fetch_max_redirects": int,
    "user_agent": str,
    "ingest_workers": int,
}


def _coerce(name: str, value: Any, where: str) -> Any:
    cast = _CASTS[name]
    try:
        return cast(value)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{where}: {name} must be {cast.__name__}, got {value!r}") from exc


def load_settings(
    home: str | Path | None = None,
    overrides: Mapping[str, Any] | None = None,
    environ: Mapping[str, str] | None = None,
) -> Settings:
    """Build the effective settings.

    Args:
        home: the newsdesk home folder; else ``NEWSDESK_HOME``; else a per-user data folder.
        overrides: values from CLI flags, applied last; ``None`` values are ignored.
        environ: the environment to read (defaults to ``os.environ``).

    Raises:
        ConfigError: the config file or a variable is malformed.
    """
    env = os.environ if environ is None else environ
    home_path = Path(home or env.get("NEWSDESK_HOME") or default_home()).expanduser()
    values: dict[str, Any] = {}

    config_file = home_path / "config.toml"
    if config_file.is_file():
        try:
            data = tomllib.loads(config_file.read_text(encoding="utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise ConfigError(f"{config_file}: {exc}") from exc
        for key, value in data.items():
            if key not in _CASTS:
                raise ConfigError(f"{config_file}: unknown setting {key!r}")
            values[key] = _coerce(key, value, str(config_file))

    for key in _CASTS:
        env_key = f"NEWSDESK_{key.upper()}"
        if env_key in env:
            values[key] = _coerce(key, env[env_key], env_key)

    for key, value in (overrides or {}).items():
        if value is None:
            continue
        if key not in _CASTS:
            raise ConfigError(f"unknown setting {key!r}")
        values[key] = _coerce(key, value, "command line")

    settings = replace(Settings(home=home_path), **values)
    if settings.default_sort not in SORTS:
        raise ConfigError(f"default_sort must be one of {', '.join(SORTS)}")
    if not 0.0 <= settings.relevance_floor < 1.0:
        raise ConfigError("relevance_floor must be in [0, 1)")
    if settings.fetch_timeout <= 0 or settings.fetch_max_bytes <= 0:
        raise ConfigError("fetch_timeout and fetch_max_bytes must be positive")
    if settings.ingest_workers < 0:
        raise ConfigError("ingest_workers must not be negative")
    if settings.fetch_max_redirects < 0:
        raise ConfigError("fetch_max_redirects must not be negative")
    return settings
