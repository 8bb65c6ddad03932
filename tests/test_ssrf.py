"""Server-side request forgery: a URL from a caller or a feed must not reach this machine.

The API is exercised on a real server on 127.0.0.1, and the addresses it is asked to
fetch point back at that server (the worst case: its own API). No test here sends a
packet anywhere but 127.0.0.1: names are resolved by an injected resolver, and the
"public" hops are answered by an ``httpx.MockTransport`` behind the guard.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from conftest import LiveServer, SiteServer
from newsdesk import load_settings, open_engine
from newsdesk.ingest.fetch import (
    CONNECT_FAILED,
    REFUSED,
    Fetcher,
    FetchLimits,
    is_public_address,
    literal_host_refused,
)

TOKEN = "ssrf-token"
PUBLIC_IP = "93.184.216.34"


def _auth() -> dict[str, str]:
    return {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture
def server(tmp_path: Path) -> Iterator[LiveServer]:
    """A writable server with the default settings: private targets refused."""
    settings = load_settings(home=tmp_path / "home", overrides={"api_token": TOKEN}, environ={})
    with open_engine(settings) as engine, LiveServer(engine) as live:
        yield live


LOOPBACK_FORMS = [
    "127.0.0.1",
    "localhost",
    "0.0.0.0",
    "2130706433",
    "0x7f000001",
    "127.1",
    "user:pass@127.0.0.1",
    "[::1]",
    "[::ffff:127.0.0.1]",
    "[::ffff:7f00:1]",
    "127.0.0.1.",
    "LOCALHOST",
]


@pytest.mark.parametrize("host", LOOPBACK_FORMS)
def test_every_spelling_of_this_machine_is_refused_by_the_api(
    server: LiveServer, host: str
) -> None:
    target = f"http://{host}:{server.port}/api/v1/health"
    r = httpx.post(
        server.url + "/api/v1/ingest/url", json={"url": target}, headers=_auth(), timeout=60
    )
    assert r.status_code == 200, r.text
    data = r.json()
    assert data["counts"]["failed"] == 1 and data["counts"]["accepted"] == 0
    assert data["problems"][0]["reason"] == REFUSED
    # Nothing of the server's own API was stored or made readable.
    assert httpx.get(server.url + "/api/v1/health").json()["documents"] == 0


def test_an_octal_address_is_not_even_a_url(server: LiveServer) -> None:
    # httpx will not read 0177.0.0.1 (octal 127.0.0.1): a 400 before any fetch.
    target = f"http://0177.0.0.1:{server.port}/api/v1/health"
    r = httpx.post(server.url + "/api/v1/ingest/url", json={"url": target}, headers=_auth())
    assert r.status_code == 400 and "malformed URL" in r.json()["error"]["message"]
    assert httpx.get(server.url + "/api/v1/health").json()["documents"] == 0


def test_open_and_closed_ports_read_the_same(server: LiveServer) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed = s.getsockname()[1]  # bound, never listening: nothing answers there
        reasons = []
        for port in (server.port, closed):
            r = httpx.post(
                server.url + "/api/v1/ingest/url",
                json={"url": f"http://127.0.0.1:{port}/"},
                headers=_auth(),
                timeout=60,
            )
            reasons.append(r.json()["problems"][0]["reason"])
    assert reasons == [REFUSED, REFUSED]


def test_feeds_on_this_machine_are_refused_when_added_and_when_polled(
    server: LiveServer, tmp_path: Path
) -> None:
    r = httpx.post(
        server.url + "/api/v1/feeds",
        json={"url": f"http://127.1:{server.port}/feed.xml"},
        headers=_auth(),
    )
    assert r.status_code == 400 and REFUSED in r.json()["error"]["message"]
    # A name that resolves to loopback is only known at poll time.
    settings = load_settings(home=tmp_path / "other", environ={})
    resolver = {"feeds.example": ["127.0.0.1"]}
    with open_engine(settings, resolver=lambda host, port: resolver[host]) as engine:
        engine.add_feed("http://feeds.example/rss.xml")
        [poll] = engine.poll_feeds()
        assert poll.status == "error" and poll.error == REFUSED
        [feed] = engine.feeds()
        assert feed.error_count == 1 and feed.last_error == REFUSED


class _Public:
    """Stands in for the internet behind the guard: records what reached it."""

    def __init__(self, redirect_to: str = "") -> None:
        self.seen: list[tuple[str, str]] = []
        self.redirect_to = redirect_to

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.seen.append((request.url.host, request.headers["host"]))
        if self.redirect_to:
            return httpx.Response(302, headers={"Location": self.redirect_to})
        page = "<html><head><title>Public page</title></head><body><p>" + "word " * 40
        return httpx.Response(200, headers={"Content-Type": "text/html"}, text=page + "</p>")


def test_a_redirect_to_this_machine_is_refused(tmp_path: Path, site: SiteServer) -> None:
    site.routes["/secret"] = (200, {"Content-Type": "text/plain"}, b"internal\n\nsecret text")
    public = _Public(redirect_to=f"{site.url}/secret")
    settings = load_settings(home=tmp_path / "home", overrides={"api_token": TOKEN}, environ={})
    engine = open_engine(
        settings,
        transport=httpx.MockTransport(public),
        resolver=lambda host, port: [PUBLIC_IP],
    )
    with engine, LiveServer(engine) as live:
        r = httpx.post(
            live.url + "/api/v1/ingest/url",
            json={"url": "http://news.example/story"},
            headers=_auth(),
        )
    assert r.json()["problems"][0]["reason"] == f"{site.url}/secret: {REFUSED}"
    # The first hop went to the checked public address, with the original Host header;
    # the second never left the guard.
    assert public.seen == [(PUBLIC_IP, "news.example")]
    assert site.requests == []


def test_the_checked_address_is_the_one_connected_to(tmp_path: Path) -> None:
    """DNS rebinding: a second answer pointing at loopback is never asked for or used."""
    answers = iter([[PUBLIC_IP], ["127.0.0.1"], ["127.0.0.1"]])
    public = _Public()
    with Fetcher(
        FetchLimits(),
        transport=httpx.MockTransport(public),
        resolver=lambda host, port: next(answers),
    ) as fetcher:
        fetched = fetcher.get("https://rebind.example/a")
    assert fetched.status == 200
    assert public.seen == [(PUBLIC_IP, "rebind.example")]


@pytest.mark.parametrize(
    "answers",
    [["10.1.2.3"], [PUBLIC_IP, "192.168.1.1"], ["169.254.169.254"], ["fd00::1"], ["::1"]],
)
def test_names_resolving_to_private_addresses_are_refused_before_connecting(
    answers: list[str],
) -> None:
    public = _Public()
    with (
        Fetcher(
            FetchLimits(),
            transport=httpx.MockTransport(public),
            resolver=lambda host, port: answers,
        ) as fetcher,
        pytest.raises(Exception, match=REFUSED),
    ):
        fetcher.get("http://intranet.example/")
    assert public.seen == []


def test_connection_errors_do_not_say_why(tmp_path: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed = s.getsockname()[1]
        settings = load_settings(
            home=tmp_path / "home", overrides={"fetch_allow_private": True}, environ={}
        )
        with open_engine(settings) as engine:
            report = engine.ingest_inputs([f"http://127.0.0.1:{closed}/x"])
    [result] = report.results
    assert result.outcome == "failed" and result.reason == CONNECT_FAILED


def test_private_targets_are_fetched_when_the_operator_allows_them(
    site: SiteServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    site.routes["/intranet.html"] = (
        200,
        {"Content-Type": "text/html; charset=utf-8"},
        b"<html><head><title>Intranet notice</title></head><body><p>"
        + b"The quarterly report is out today with new figures. " * 5
        + b"</p></body></html>",
    )
    url = f"{site.url}/intranet.html"
    with open_engine(load_settings(home=tmp_path / "a", environ={})) as engine:
        assert engine.ingest_inputs([url]).results[0].reason == REFUSED
    assert site.requests == []
    monkeypatch.setenv("NEWSDESK_FETCH_ALLOW_PRIVATE", "true")
    with open_engine(load_settings(home=tmp_path / "b")) as engine:
        assert engine.ingest_inputs([url]).counts["accepted"] == 1
    assert [path for path, _ in site.requests] == ["/intranet.html"]


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1",
        "10.0.0.1",
        "172.16.5.4",
        "192.168.0.1",
        "169.254.169.254",
        "100.64.0.1",
        "0.0.0.0",
        "224.0.0.1",
        "240.0.0.1",
        "255.255.255.255",
        "::1",
        "::",
        "fe80::1",
        "fc00::1",
        "ff02::1",
        "::ffff:127.0.0.1",
        "::ffff:10.0.0.1",
        "::127.0.0.1",
        "2002:7f00:1::1",  # 6to4 of 127.0.0.1
        "2002:a00:1::1",  # 6to4 of 10.0.0.1
        "64:ff9b::7f00:1",  # NAT64 of 127.0.0.1
        "64:ff9b::a9fe:a9fe",  # NAT64 of 169.254.169.254
        "2001:0:4136:e378:8000:63bf:3fff:fdd2",  # Teredo
    ],
)
def test_non_public_addresses(address: str) -> None:
    assert not is_public_address(address)


@pytest.mark.parametrize("address", [PUBLIC_IP, "8.8.8.8", "2606:4700::1111", "2002:5db8:d822::1"])
def test_public_addresses(address: str) -> None:
    assert is_public_address(address)


@pytest.mark.parametrize(
    ("host", "refused"),
    [
        ("127.1", True),
        ("2130706433", True),
        ("0x7f000001", True),
        ("017700000001", True),
        ("[::ffff:127.0.0.1]", True),
        ("a.localhost", True),
        ("example.com", False),
        ("8.8.8.8", False),
    ],
)
def test_literal_hosts(host: str, refused: bool) -> None:
    assert literal_host_refused(host) is refused
