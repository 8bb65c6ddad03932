"""Errors raised by newsdesk.

Every error derives from :class:`NewsdeskError`, so callers can catch the whole
family or one branch::

    NewsdeskError
    ├── ConfigError          bad settings file, environment variable or flag
    ├── InputError           a request the user can fix (bad query, unknown option)
    ├── NotFound             a document id or other named thing does not exist
    ├── ExtractionError      an input could not be turned into a document
    ├── FetchError           a URL could not be fetched (network, status, limits)
    ├── StoreError           the store failed or is from a newer version
    │   └── StoreUnavailable the store's server cannot be reached (retry later)
    ├── SearchIndexError     the search index is missing, locked or inconsistent
    ├── PermissionDenied     a request lacks the token an endpoint requires
    ├── BackendUnavailable   an optional dependency or remote service is missing
    │   └── WarmingUp        a server is still loading its models and indexes
    ├── EndpointError        a model or translation service failed (retryable? reachable?)
    │   ├── LLMError         the LLM endpoint failed or answered unusably (also a SummaryError)
    │   └── TranslationError a translation endpoint failed or answered unusably
    └── SummaryError         a summarizer could not produce a usable summary
        └── LLMError

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


class StoreUnavailable(StoreError):
    """The store's database server cannot be reached now (down, restarting, network).

    Nothing was written by the failed call; workers wait and retry.
    """


class SearchIndexError(NewsdeskError):
    """The search index failed."""


class BackendUnavailable(NewsdeskError):
    """A backend (optional package, model or service) cannot be used."""

    def __init__(self, message: str, backend: str = "") -> None:
        super().__init__(message)
        self.backend = backend


class WarmingUp(BackendUnavailable):
    """A server is still loading its models and indexes; ask again in a moment."""

    def __init__(self, message: str) -> None:
        super().__init__(message, backend="server")


class PermissionDenied(NewsdeskError):
    """The caller is not allowed to do this (missing or wrong API token, writes disabled)."""

    def __init__(self, message: str, status: int = 401) -> None:
        super().__init__(message)
        self.status = status


class SummaryError(NewsdeskError):
    """A summarizer failed on one document; ``doc_id`` and ``backend`` say which."""

    def __init__(self, message: str, doc_id: str = "", backend: str = "") -> None:
        super().__init__(message)
        self.doc_id = doc_id
        self.backend = backend


class EndpointError(NewsdeskError):
    """A remote model or translation service failed, timed out or answered unusably.

    ``retryable`` is true for rate limits, server errors and timeouts; ``unreachable``
    when no connection could be made at all.
    """

    def __init__(
        self, message: str, backend: str = "", retryable: bool = False, unreachable: bool = False
    ) -> None:
        super().__init__(message)
        self.backend = backend
        self.retryable = retryable
        self.unreachable = unreachable


class LLMError(SummaryError, EndpointError):
    """An OpenAI-compatible endpoint failed, timed out or answered something unusable."""

    def __init__(
        self,
        message: str,
        doc_id: str = "",
        backend: str = "llm",
        retryable: bool = False,
        unreachable: bool = False,
    ) -> None:
        SummaryError.__init__(self, message, doc_id=doc_id, backend=backend)
        self.retryable = retryable
        self.unreachable = unreachable


class TranslationError(EndpointError):
    """A translation backend failed on a batch; ``backend`` says which."""

    def __init__(
        self,
        message: str,
        backend: str = "",
        retryable: bool = False,
        unreachable: bool = False,
    ) -> None:
        super().__init__(message, backend=backend, retryable=retryable, unreachable=unreachable)
