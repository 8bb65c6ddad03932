"""Errors raised by newsdesk.

Every error derives from :class:`NewsdeskError`, so callers can catch the whole
family or one branch::

    NewsdeskError
    ├── ConfigError          bad settings file, environment variable or flag
    ├── InputError           a request the user can fix (bad query, unknown option)
    ├── NotFound             a document id or other named thing does not exist
    ├── ExtractionError      an input could not be turned into a document
    ├── FetchError           a URL could not be fetched (network, status, limits)
    ├── StoreError           the SQLite store failed or is from a newer version
    ├── SearchIndexError     the search index is missing, locked or inconsistent
    └── BackendUnavailable   an optional dependency or remote service is missing

Expected outcomes of ingest (duplicate, skipped, failed) are values
(:class:`newsdesk.models.IngestResult`), not exceptions.
"""

from __future__ import annotations


class NewsdeskError(Exception):
    """Base of every error newsdesk raises on purpose."""


class ConfigError(NewsdeskError):
    """Settings could not be read or are invalid."""


class InputError(NewsdeskError):
    """The caller asked for something malformed."""


class NotFound(NewsdeskError):
    """A named object does not exist."""

    def __init__(self, kind: str, key: str) -> None:
        super().__init__(f"{kind} not found: {key}")
        self.kind = kind
        self.key = key


class ExtractionError(NewsdeskError):
    """An input item could not be parsed into a document."""

    def __init__(self, message: str, origin: str = "") -> None:
        super().__init__(message)
        self.origin = origin


class FetchError(NewsdeskError):
    """A URL could not be fetched: refused scheme, network error, bad status or a limit."""

    def __init__(self, message: str, url: str = "", status: int | None = None) -> None:
        super().__init__(f"{url}: {message}" if url else message)
        self.reason = message
        self.url = url
        self.status = status


class StoreError(NewsdeskError):
    """The document store failed."""


class SearchIndexError(NewsdeskError):
    """The search index failed."""


class BackendUnavailable(NewsdeskError):
    """A backend (optional package, model or service) cannot be used."""

    def __init__(self, message: str, backend: str = "") -> None:
        super().__init__(message)
        self.backend = backend
