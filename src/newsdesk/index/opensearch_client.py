"""Reaching an OpenSearch cluster: where it is, the client, and what its errors mean.

opensearch-py is an optional dependency (``pip install 'newsdesk[opensearch]'``),
imported only when a cluster is used.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from newsdesk.config import Settings, redact_url
from newsdesk.errors import BackendUnavailable, SearchIndexError


@dataclass(frozen=True, slots=True)
class ClusterConfig:
    """How to reach the cluster and how to lay out the index."""

    urls: tuple[str, ...]
    alias: str = "newsdesk"
    shards: int = 1
    replicas: int = -1
    timeout: float = 30.0
    verify_certs: bool = True
    ca_certs: str = ""

    @classmethod
    def from_settings(cls, settings: Settings) -> ClusterConfig:
        return cls(
            urls=tuple(u.strip() for u in settings.opensearch_url.split(",") if u.strip()),
            alias=settings.opensearch_index,
            shards=settings.opensearch_shards,
            replicas=settings.opensearch_replicas,
            timeout=settings.opensearch_timeout,
            verify_certs=settings.opensearch_verify_certs,
            ca_certs=settings.opensearch_ca_certs,
        )

    @property
    def where(self) -> str:
        return ", ".join(redact_url(u) for u in self.urls)


def connect(config: ClusterConfig) -> Any:
    """An ``opensearchpy.OpenSearch`` client over every configured node.

    Raises:
        BackendUnavailable: opensearch-py is not installed.
    """
    try:
        from opensearchpy import OpenSearch
    except ImportError as exc:  # an optional extra
        raise BackendUnavailable(
            "index_backend = 'opensearch' needs opensearch-py: pip install 'newsdesk[opensearch]'",
            backend="opensearch",
        ) from exc
    options: dict[str, Any] = {
        "timeout": config.timeout,
        # A node that does not answer is marked dead and the request goes to another.
        "max_retries": 3,
        "retry_on_timeout": True,
        "pool_maxsize": 16,
    }
    if any(u.startswith("https:") for u in config.urls):
        options["verify_certs"] = config.verify_certs
        if config.ca_certs:
            options["ca_certs"] = config.ca_certs
    return OpenSearch(hosts=list(config.urls), **options)


def _reason(exc: Exception) -> str:
    info = getattr(exc, "info", None)
    if isinstance(info, dict):
        err = info.get("error")
        if isinstance(err, dict):
            cause = (err.get("root_cause") or [err])[0]
            return f"{cause.get('type', '')}: {cause.get('reason', '')}".strip(": ")
        if err:
            return str(err)
    error = getattr(exc, "error", None)
    return str(error or exc)


@contextlib.contextmanager
def client_errors(where: str, doing: str) -> Iterator[None]:
    """Turn the client's errors while ``doing`` into newsdesk errors that say what to do."""
    from opensearchpy import exceptions as ox

    try:
        yield
    except (ox.ConnectionError, ox.ConnectionTimeout) as exc:
        raise BackendUnavailable(
            f"the OpenSearch cluster at {where} is unreachable while {doing}"
            f" ({type(exc).__name__}). Start it, fix opensearch_url, or switch back with"
            " index_backend = 'local' (then `newsdesk index rebuild`)",
            backend="opensearch",
        ) from exc
    except (ox.AuthenticationException, ox.AuthorizationException) as exc:
        raise BackendUnavailable(
            f"the OpenSearch cluster at {where} refused newsdesk while {doing}"
            f" ({_reason(exc)}): check the credentials in opensearch_url",
            backend="opensearch",
        ) from exc
    except ox.TransportError as exc:
        raise SearchIndexError(
            f"OpenSearch failed while {doing}: HTTP {exc.status_code} {_reason(exc)}"
        ) from exc


def ox_request_error() -> type[Exception]:
    """The client's 400 error (an index created by someone else meanwhile)."""
    from opensearchpy.exceptions import RequestError

    return RequestError


def reason_of(op: Mapping[str, Any]) -> str:
    err = op.get("error")
    if isinstance(err, dict):
        return f"{err.get('type', '')}: {err.get('reason', '')}"
    return str(err or op.get("status", "failed"))
