"""Fetching pages and feeds over HTTP(S) with hard limits.

Servers are untrusted: every request has a timeout, a body is read in chunks and
abandoned past a size limit (after decompression, so a gzip bomb stops too),
redirects are followed by hand so that each hop is counted and its scheme checked,
and only ``http`` and ``https`` URLs are fetched at all. Conditional requests
(``If-None-Match`` / ``If-Modified-Since``) let feed polls cost a 304.

URLs come from users, feeds and redirects, so a fetch must not become a way into
this machine or its network (server-side request forgery). Unless the operator
allows private targets (``fetch_allow_private``), every request, on every redirect
hop, goes through :class:`GuardedTransport`: it resolves the host itself, refuses
loopback, private, link-local, multicast, reserved and unspecified addresses (IPv4,
IPv6 and the IPv6 forms that embed an IPv4 address: mapped, 6to4, NAT64, Teredo;
and every spelling of an IPv4 address the resolver accepts, such as ``2130706433``,
``0x7f000001`` or ``127.1``), and then connects to the very address it checked, with
the original ``Host`` header and TLS server name, so a second DNS answer cannot
swap in another address. A refusal is one neutral message (:data:`REFUSED`), and
failed connections all read the same, so nothing tells a caller which ports are open.

The transport is injectable (httpx's ``BaseTransport`` protocol), and so is the
resolver, so tests can run against a server on 127.0.0.1 or an ``httpx.MockTransport``.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from types import TracebackType
from urllib.parse import urljoin, urlsplit

import httpx

from newsdesk.errors import FetchError

ALLOWED_SCHEMES = ("http", "https")
_REDIRECTS = (301, 302, 303, 307, 308)
REFUSED = "refused: the address is not public"
CONNECT_FAILED = "could not connect"
# Resolves (host, port) to IP address strings; raises OSError when the name is unknown.
Resolver = Callable[[str, int], list[str]]
_NAT64 = (ipaddress.ip_network("64:ff9b::/96"), ipaddress.ip_network("64:ff9b:1::/48"))
_LOCAL_NAMES = ("localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback")


@dataclass(frozen=True, slots=True)
class FetchLimits:
    timeout: float = 20.0
    max_bytes: int = 16 * 1024 * 1024
    max_redirects: int = 5
    user_agent: str = "newsdesk"
    # Let fetches reach loopback and private networks (an intranet feed, tests).
    allow_private: bool = False


def system_resolver(host: str, port: int) -> list[str]:
    """Every address the system resolver gives for ``host``, in its order."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> list[ipaddress.IPv4Address]:
    """IPv4 addresses an IPv6 address stands for (mapped, 6to4, Teredo, NAT64)."""
    found: list[ipaddress.IPv4Address] = []
    if ip.ipv4_mapped is not None:
        found.append(ip.ipv4_mapped)
    if ip.sixtofour is not None:
        found.append(ip.sixtofour)
    if ip.teredo is not None:
        found.extend(ip.teredo)
    if any(ip in net for net in _NAT64):
        found.append(ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF))
    return found


def is_public_address(address: str) -> bool:
    """True when ``address`` (an IP literal) is a globally routable unicast address."""
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and not all(
        is_public_address(str(v4)) for v4 in _embedded_ipv4(ip)
    ):
        return False
    return ip.is_global and not (
        ip.is_private
        or ip.is_loopback
        or ip.is_link_local
        or ip.is_multicast
        or ip.is_reserved
        or ip.is_unspecified
    )


def literal_host_refused(host: str) -> bool:
    """True when ``host`` names a non-public address without asking DNS.

    Catches IP literals in every spelling (``127.1``, ``2130706433``, ``0x7f000001``,
    ``[::ffff:127.0.0.1]``) and the names every system maps to loopback; a name
    that needs DNS is left to :class:`GuardedTransport`, which checks what it resolves to.
    """
    name = host.strip("[]").rstrip(".").lower()
    if name in _LOCAL_NAMES or name.endswith(".localhost"):
        return True
    try:
        ipaddress.ip_address(name.split("%", 1)[0])
        return not is_public_address(name)
    except ValueError:
        pass
    try:
        # inet_aton reads the legacy IPv4 forms: decimal, hex, octal, short (127.1).
        packed = socket.inet_aton(name)
    except (OSError, ValueError):
        return False
    return not is_public_address(socket.inet_ntoa(packed))


class _Refused(Exception):
    """The host resolves to an address that is not public."""


class GuardedTransport(httpx.BaseTransport):
    """Connects only to public addresses, pinned to the address that was checked.

    Each request's host is resolved here; if any of its addresses is not public the
    request is refused before a connection is made. Otherwise the request goes to
    the first address that accepts a connection, with the original ``Host`` header
    and TLS server name (SNI and certificate checks use the host name).
    """

    def __init__(self, inner: httpx.BaseTransport, resolver: Resolver) -> None:
        self._inner = inner
        self._resolver = resolver

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        host = request.url.raw_host.decode("ascii")
        port = request.url.port or (443 if request.url.scheme == "https" else 80)
        if literal_host_refused(host):
            raise _Refused(host)
        try:
            addresses = self._resolver(host.strip("[]"), port)
        except (OSError, UnicodeError) as exc:
            raise httpx.ConnectError(f"cannot resolve {host}", request=request) from exc
        if not addresses or not all(is_public_address(a) for a in addresses):
            raise _Refused(host)
        failure: httpx.ConnectError | None = None
        for address in addresses:
            pinned = httpx.Request(
                request.method,
                request.url.copy_with(host=address),
                headers=request.headers,
                stream=request.stream,
                extensions={**request.extensions, "sni_hostname": host},
            )
            try:
                return self._inner.handle_request(pinned)
            except httpx.ConnectError as exc:
                failure = exc
        assert failure is not None
        raise failure

    def close(self) -> None:
        self._inner.close()


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
    """Return ``url`` if it is a well-formed absolute http(s) URL with a host.

    Raises:
        FetchError: another scheme (file:, ftp:, javascript: ...), no host, or a
            malformed URL (``http://[::1/``, a port out of range ...).
    """
    text = url.strip()
    try:
        parts = urlsplit(text)
        scheme = parts.scheme.lower()
        if scheme not in ALLOWED_SCHEMES:
            raise FetchError(f"only http and https URLs are fetched, not {scheme or 'none'}:", url)
        if not parts.hostname:
            raise FetchError("URL has no host", url)
        _ = parts.port  # raises on a port that is not a number in range
        httpx.URL(text)
    except (ValueError, httpx.InvalidURL) as exc:
        raise FetchError(f"malformed URL ({exc})", url[:300]) from exc
    return text


class Fetcher:
    """An HTTP client bound to one set of limits; use as a context manager."""

    def __init__(
        self,
        limits: FetchLimits | None = None,
        transport: httpx.BaseTransport | None = None,
        clock: Callable[[], datetime] | None = None,
        resolver: Resolver | None = None,
    ) -> None:
        self.limits = limits or FetchLimits()
        self._clock = clock or (lambda: datetime.now(UTC))
        if not self.limits.allow_private:
            # No keep-alive: a pooled connection is keyed by the pinned address and
            # would otherwise carry one host's TLS session to another host.
            inner = transport or httpx.HTTPTransport(
                limits=httpx.Limits(max_keepalive_connections=0), trust_env=False
            )
            transport = GuardedTransport(inner, resolver or system_resolver)
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
            FetchError: refused scheme or address (:data:`REFUSED`), a connection
                that failed (:data:`CONNECT_FAILED`, whatever the cause) or timed out,
                an HTTP error status, too many redirects, or a body over ``max_bytes``.
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
            except _Refused as exc:
                raise FetchError(REFUSED, current) from exc
            except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
                # One message for refused, unreachable and filtered alike: the reason
                # would tell a caller which ports are open.
                raise FetchError(CONNECT_FAILED, current) from exc
            except httpx.TimeoutException as exc:
                raise FetchError(f"timed out after {self.limits.timeout:g}s", current) from exc
            except httpx.HTTPError as exc:
                raise FetchError("the connection failed", current) from exc
            except httpx.InvalidURL as exc:
                raise FetchError(f"malformed URL ({exc})", current) from exc
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
