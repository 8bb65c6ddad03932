"""Fetching pages and feeds over HTTP(S) with hard limits.

Servers are untrusted: every request has a timeout, a body is read in chunks and
abandoned past a size limit (after decompression, so a gzip bomb stops too),
redirects are followed by hand so that each hop is counted and its scheme checked,
and only ``http`` and ``https`` URLs are fetched at all. Conditional requests
(``If-None-Match`` / ``If-Modified-Since``) let feed polls cost a 304.

The transport is injectable (httpx's ``BaseTransport`` protocol), so tests can run
against a server on 127.0.0.1 or an ``httpx.MockTransport``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from types import TracebackType
from urllib.parse import urljoin, urlsplit

import httpx

from newsdesk.errors import FetchError

ALLOWED_SCHEMES = ("http", "https")
_REDIRECTS = (301, 302, 303, 307, 308)


@dataclass(frozen=True, slots=True)
class FetchLimits:
    timeout: float = 20.0
    max_bytes: int = 16 * 1024 * 1024
    max_redirects: int = 5
    user_agent: str = "newsdesk"


@dataclass(frozen=True, slots=True)
class Fetched:
    """A response: the final URL after redirects, and the body unless ``not_modified``."""

    url: str
    status: int
    content_type: str
    body: bytes
    fetched_at: datetime
    etag: str = ""
    last_modified: str = ""

    @property
    def not_modified(self) -> bool:
        return self.status == 304


def check_url(url: str) -> str:
    """Return ``url`` if it is an absolute http(s) URL with a host.

    Raises:
        FetchError: another scheme (file:, ftp:, javascript: ...) or no host.
    """
    parts = urlsplit(url.strip())
    if parts.scheme.lower() not in ALLOWED_SCHEMES:
        raise FetchError(
            f"only http and https URLs are fetched, not {parts.scheme or 'none'}:", url
        )
    if not parts.hostname:
        raise FetchError("URL has no host", url)
    return url.strip()


class Fetcher:
    """An HTTP client bound to one set of limits; use as a context manager."""

    def __init__(
        self,
        limits: FetchLimits | None = None,
        transport: httpx.BaseTransport | None = None,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self.limits = limits or FetchLimits()
        self._clock = clock or (lambda: datetime.now(UTC))
        self._client = httpx.Client(
            timeout=httpx.Timeout(self.limits.timeout),
            follow_redirects=False,
            headers={"User-Agent": self.limits.user_agent},
            transport=transport,
            # Proxies from the environment would send local test traffic elsewhere.
            trust_env=False,
        )

    def __enter__(self) -> Fetcher:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        self._client.close()

    def get(self, url: str, etag: str = "", last_modified: str = "") -> Fetched:
        """GET ``url`` within the limits, following at most ``max_redirects`` redirects.

        Raises:
            FetchError: refused scheme, network error or timeout, an HTTP error status,
                too many redirects, or a body over ``max_bytes``.
        """
        current = check_url(url)
        headers = {}
        if etag:
            headers["If-None-Match"] = etag
        if last_modified:
            headers["If-Modified-Since"] = last_modified
        for _ in range(self.limits.max_redirects + 1):
            try:
                with self._client.stream("GET", current, headers=headers) as response:
                    if response.status_code in _REDIRECTS:
                        location = response.headers.get("location", "")
                        if not location:
                            raise FetchError("redirect without a Location", current)
                        current = check_url(urljoin(current, location))
                        continue
                    return self._read(current, response)
            except httpx.TimeoutException as exc:
                raise FetchError(f"timed out after {self.limits.timeout:g}s", current) from exc
            except httpx.HTTPError as exc:
                raise FetchError(f"{type(exc).__name__}: {exc}", current) from exc
        raise FetchError(f"more than {self.limits.max_redirects} redirects", url)

    def _read(self, url: str, response: httpx.Response) -> Fetched:
        status = response.status_code
        if status >= 400:
            raise FetchError(f"HTTP {status} {response.reason_phrase}", url, status)
        if status != 304 and not 200 <= status < 300:
            raise FetchError(f"unexpected HTTP status {status}", url, status)
        body = b"" if status == 304 else self._body(url, response)
        return Fetched(
            url=url,
            status=status,
            content_type=response.headers.get("content-type", ""),
            body=body,
            fetched_at=self._clock(),
            etag=response.headers.get("etag", ""),
            last_modified=response.headers.get("last-modified", ""),
        )

    def _body(self, url: str, response: httpx.Response) -> bytes:
        limit = self.limits.max_bytes
        declared = response.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > limit:
            raise FetchError(f"response too large ({declared} bytes > {limit})", url)
        chunks: list[bytes] = []
        size = 0
        for chunk in response.iter_bytes():
            size += len(chunk)
            if size > limit:
                raise FetchError(f"response too large (over {limit} bytes)", url)
            chunks.append(chunk)
        return b"".join(chunks)
