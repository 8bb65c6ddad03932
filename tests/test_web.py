"""HTTP tests against the real server (uvicorn on 127.0.0.1) over the bundled sample corpus."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from html.parser import HTMLParser
from pathlib import Path
from typing import Any, cast
from urllib.parse import unquote

import httpx
import pytest
from click.testing import CliRunner
from fastapi.routing import APIRoute

from conftest import LiveServer
from newsdesk import Engine
from newsdesk.cli import cli
from newsdesk.web.app import create_app

QUERY = "技术主权"
PAGE_SIZE = 10
NEAR_COPIES = ("zh-asml-mistral-01", "zh-asml-mistral-02")
MARKUP_DOC = "en-markup-test-01"
RAW_SCRIPT = "<script>alert(1)</script>"
RAW_IMG = "<img src=x onerror"
ESCAPED_SCRIPT = "&lt;script&gt;"
CITE_HREF = re.compile(r"^/documents/(?P<id>[^#?]+)(?:\?[^#]*)?#p(?P<n>\d+)$")


# -- a tiny DOM built with the standard library --------------------------------------------
VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "wbr"}


@dataclass
class Node:
    tag: str
    attrs: dict[str, str]
    parent: Node | None = None
    children: list[Node | str] = field(default_factory=list)

    @property
    def classes(self) -> list[str]:
        return self.attrs.get("class", "").split()

    @property
    def text(self) -> str:
        return "".join(c if isinstance(c, str) else c.text for c in self.children)

    def iter(self) -> Iterator[Node]:
        for child in self.children:
            if isinstance(child, Node):
                yield child
                yield from child.iter()

    def find_all(self, tag: str, cls: str | None = None) -> list[Node]:
        return [n for n in self.iter() if n.tag == tag and (cls is None or cls in n.classes)]

    def find(self, tag: str, cls: str | None = None) -> Node:
        found = self.find_all(tag, cls)
        assert found, f"no <{tag} class={cls!r}> in the page"
        return found[0]


class _TreeBuilder(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.root = Node("#document", {})
        self.current = self.root

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        node = Node(tag, {k: v or "" for k, v in attrs}, parent=self.current)
        self.current.children.append(node)
        if tag not in VOID:
            self.current = node

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.current.children.append(Node(tag, {k: v or "" for k, v in attrs}, self.current))

    def handle_endtag(self, tag: str) -> None:
        node: Node | None = self.current
        while node is not None and node.tag != tag:
            node = node.parent
        if node is not None and node.parent is not None:
            self.current = node.parent

    def handle_data(self, data: str) -> None:
        self.current.children.append(data)


def parse_html(html: str) -> Node:
    builder = _TreeBuilder()
    builder.feed(html)
    builder.close()
    return builder.root


# -- fixtures --------------------------------------------------------------------------------
def _check_csp(response: httpx.Response) -> None:
    csp = response.headers.get("content-security-policy", "")
    assert "script-src 'self'" in csp, f"{response.request.url}: CSP header is {csp!r}"


@pytest.fixture(scope="module")
def client(live_server: LiveServer) -> Iterator[httpx.Client]:
    """A client on the live server; every response it receives must carry the CSP header."""
    with httpx.Client(
        base_url=live_server.url, timeout=120, event_hooks={"response": [_check_csp]}
    ) as c:
        yield c


@pytest.fixture
def cli_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """The CLI reads NEWSDESK_* from the environment; the server's engine was built without."""
    for key in list(os.environ):
        if key.startswith("NEWSDESK_"):
            monkeypatch.delenv(key)


def run_cli(*args: str) -> Any:
    result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def get_html(client: httpx.Client, path: str, **params: Any) -> str:
    r = client.get(path, params=params or None)
    assert r.status_code == 200, (path, r.status_code, r.text[:500])
    assert r.headers["content-type"].startswith("text/html")
    return r.text


def get_json(client: httpx.Client, path: str, **params: Any) -> Any:
    r = client.get(path, params=params or None)
    assert r.status_code == 200, (path, r.status_code, r.text[:500])
    assert r.headers["content-type"].startswith("application/json")
    return r.json()


def result_id(li: Node) -> str:
    """The document id a search result links to."""
    href = li.find("h2").find("a").attrs["href"]
    assert href.startswith("/documents/"), href
    # The link carries the search (?q=…) so the document page can link back to it.
    return unquote(href.removeprefix("/documents/").split("?", 1)[0])


def result_ids(root: Node) -> list[str]:
    """Document ids of the results on a search page, in page order."""
    return [result_id(li) for li in root.find_all("li", "result")]


def all_result_ids(client: httpx.Client, q: str, sort: str) -> list[str]:
    """Follow the pager through every page of a search and collect the result ids."""
    ids: list[str] = []
    url: str | None = "/?" + str(httpx.QueryParams({"q": q, "sort": sort}))
    seen = 0
    while url:
        seen += 1
        assert seen <= 50, "pager does not terminate"
        root = parse_html(get_html(client, url))
        ids.extend(result_ids(root))
        nxt = [a for a in root.find_all("a") if a.attrs.get("rel") == "next"]
        url = nxt[0].attrs["href"] if nxt else None
    return ids


def assert_envelope(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, (response.request.url, response.text[:300])
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"ok", "error"}, body
    assert body["ok"] is False
    error = body["error"]
    assert set(error) == {"status", "code", "message"}, error
    assert error["status"] == response.status_code
    assert isinstance(error["code"], str) and error["code"]
    assert isinstance(error["message"], str) and error["message"]
    return error


# -- search page -----------------------------------------------------------------------------
def test_search_page_shows_headlines_and_valid_citations(client: httpx.Client) -> None:
    html = get_html(client, "/", q=QUERY)
    api = get_json(client, "/api/v1/search", q=QUERY)
    assert api["total"] >= 5, "the sample corpus has 5 documents containing the query"

    assert html.count('<li class="result"') == min(PAGE_SIZE, api["total"])
    root = parse_html(html)
    headlines = [li.find("h2").text.strip() for li in root.find_all("li", "result")]
    assert headlines == [r["title"] for r in api["results"]]
    assert any(QUERY in h for h in headlines)

    cites = root.find_all("a", "cite")
    assert cites, "no citation links on the search page"
    paragraphs: dict[str, dict[int, str]] = {}
    for a in cites:
        m = CITE_HREF.match(a.attrs["href"])
        assert m, f"unexpected citation href {a.attrs['href']!r}"
        doc_id, n = unquote(m["id"]), int(m["n"])
        if doc_id not in paragraphs:
            doc = get_json(client, f"/api/v1/documents/{m['id']}")
            paragraphs[doc_id] = {p["n"]: p["text"] for p in doc["paragraphs"]}
        assert n in paragraphs[doc_id], f"{a.attrs['href']} cites a paragraph that does not exist"
        # The link reads [n]; its pop-up (shown on hover and focus) quotes the paragraph.
        assert a.text.startswith(f"[{n}]")
        assert paragraphs[doc_id][n][:40] in a.text
    assert set(paragraphs) <= set(result_ids(root))


def test_search_page_is_newest_first_and_relevance_starts_with_that_set(
    client: httpx.Client,
) -> None:
    root = parse_html(get_html(client, "/", q=QUERY))
    times = [
        datetime.fromisoformat(li.find("time").attrs["datetime"])
        for li in root.find_all("li", "result")
    ]
    assert len(times) >= 3
    assert all(t.tzinfo is not None for t in times)
    assert times == sorted(times, reverse=True), times

    newest = all_result_ids(client, QUERY, "newest")
    relevance = all_result_ids(client, QUERY, "relevance")
    assert len(newest) == len(set(newest)), "a document is listed twice"
    # The relevance order lists the confident results (the newest-first set) first,
    # best first, then the less certain ones.
    assert sorted(newest) == sorted(relevance[: len(newest)])
    api_relevance = get_json(client, "/api/v1/search", q=QUERY, sort="relevance", limit=100)
    assert relevance == [r["id"] for r in api_relevance["results"]]
    assert api_relevance["total"] == len(newest) <= api_relevance["listed"] == len(relevance)
    sure = [r for r in api_relevance["results"] if r["confident"]]
    assert [r["id"] for r in sure] == relevance[: len(newest)]
    scores = [r["score"] for r in sure]
    assert scores == sorted(scores, reverse=True)
    assert all(r["why"] for r in api_relevance["results"])


def test_document_page_anchors_and_other_sources(client: httpx.Client) -> None:
    doc_id, copy_id = NEAR_COPIES
    doc = get_json(client, f"/api/v1/documents/{doc_id}")
    copy = get_json(client, f"/api/v1/documents/{copy_id}")
    html = get_html(client, f"/documents/{doc_id}")
    root = parse_html(html)

    numbers = [p["n"] for p in doc["paragraphs"]]
    assert numbers == list(range(1, len(numbers) + 1))
    paras = root.find_all("p", "para")
    assert [p.attrs.get("id") for p in paras] == [f"p{n}" for n in numbers]
    for p, expected in zip(paras, doc["paragraphs"], strict=True):
        assert expected["text"] in p.text
    assert root.find("h1").text == doc["title"]

    others = root.find("p", "others")
    assert "Also published by" in others.text
    links = {unquote(a.attrs["href"]): a.text for a in others.find_all("a")}
    assert links.get(f"/documents/{copy_id}") == (copy["source"] or copy_id)
    assert doc_id not in {h.removeprefix("/documents/") for h in links}
    assert copy_id in {d["id"] for d in doc["duplicates"]}

    # In-page citations point at anchors that exist on this very page.
    ids = {n.attrs["id"] for n in root.iter() if "id" in n.attrs}
    cites = root.find_all("a", "cite")
    assert cites
    for a in cites:
        assert a.attrs["href"].startswith("#p")
        assert a.attrs["href"][1:] in ids


# -- JSON API --------------------------------------------------------------------------------
def test_api_search_shape_matches_cli(
    client: httpx.Client, sample_home: Path, cli_env: None
) -> None:
    data = get_json(client, "/api/v1/search", q=QUERY)
    assert {"query", "total", "results"} <= set(data)
    assert data["query"] == QUERY
    assert isinstance(data["total"], int) and data["total"] >= len(data["results"]) >= 3
    for r in data["results"]:
        keys = {"id", "title", "source", "published_at", "url", "lang", "score", "duplicates"}
        assert keys | {"summary"} <= set(r), r.keys()
        assert isinstance(r["score"], float | int)
        assert isinstance(r["duplicates"], list)
        summary = r["summary"]
        assert isinstance(summary, dict) and summary["sections"], r["id"]
        for section in summary["sections"]:
            assert isinstance(section["bullets"], list)
            for bullet in section["bullets"]:
                assert isinstance(bullet["text"], str) and bullet["text"]
                assert isinstance(bullet["citations"], list) and bullet["citations"]
                assert all(isinstance(c, int) for c in bullet["citations"])

    out = run_cli("--home", str(sample_home), "search", QUERY, "--json")
    assert [r["id"] for r in out["results"]] == [r["id"] for r in data["results"]]
    assert out["total"] == data["total"]
    assert out == data


def test_api_document_matches_cli_show(
    client: httpx.Client, sample_home: Path, cli_env: None
) -> None:
    doc_id = NEAR_COPIES[0]
    data = get_json(client, f"/api/v1/documents/{doc_id}")
    out = run_cli("--home", str(sample_home), "show", doc_id, "--json")
    assert data == out
    assert data["id"] == doc_id and data["paragraphs"]


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("/api/v1/documents/does-not-exist", 404),
        ("/api/v1/search?limit=0", 422),
        ("/api/v1/search?sort=bogus", 422),
        ("/api/v1/search?since=notadate&q=x", 400),
        ("/api/v1/nope", 404),
    ],
)
def test_api_error_envelope(client: httpx.Client, path: str, status: int) -> None:
    assert_envelope(client.get(path), status)


def test_every_api_route_with_a_path_param_returns_envelope_for_missing_id(
    client: httpx.Client, sample_engine: Engine
) -> None:
    app = create_app(sample_engine.settings, sample_engine)
    checked = []
    for route in app.routes:
        if not isinstance(route, APIRoute) or not route.path.startswith("/api/v1/"):
            continue
        params = re.findall(r"{(\w+)(?::\w+)?}", route.path_format)
        if not params:
            continue
        path = route.path_format
        for name in params:
            path = path.replace(f"{{{name}}}", f"missing-{name}-0000")
        for method in sorted(route.methods):
            if method == "HEAD":
                continue
            if method == "GET":
                error = assert_envelope(client.request(method, path), 404)
                assert error["code"] == "not_found"
            else:
                # This server has no token: writes are refused before anything is looked up.
                error = assert_envelope(client.request(method, path), 403)
                assert error["code"] == "forbidden"
            checked.append((method, path))
    assert len(checked) >= 2, checked


def test_openapi_lists_search(client: httpx.Client) -> None:
    r = client.get("/api/v1/openapi.json")
    assert r.status_code == 200
    spec = json.loads(r.text)
    assert "openapi" in spec
    assert "/api/v1/search" in spec["paths"]
    assert "get" in spec["paths"]["/api/v1/search"]


def test_health(client: httpx.Client) -> None:
    data = get_json(client, "/api/v1/health")
    assert data["ok"] is True
    assert data["documents"] == 60
    assert data["indexed"] == 60


# -- headers, escaping, HTML errors ----------------------------------------------------------
@pytest.mark.parametrize(
    "path",
    [
        "/",
        f"/?q={QUERY}",
        f"/documents/{NEAR_COPIES[0]}",
        "/documents/nope",
        "/?sort=bogus",
        "/static/style.css",
        "/api/v1/health",
        f"/api/v1/search?q={QUERY}",
        f"/api/v1/documents/{NEAR_COPIES[0]}",
        f"/api/v1/documents/{NEAR_COPIES[0]}/summary",
        "/api/v1/openapi.json",
        "/api/docs",
        "/api/v1/nope",
        "/api/v1/search?limit=0",
    ],
)
def test_csp_header_on_every_response(live_server: LiveServer, path: str) -> None:
    with httpx.Client(base_url=live_server.url, timeout=120) as c:
        r = c.get(path)
    csp = r.headers.get("content-security-policy", "")
    assert "script-src 'self'" in csp, (path, r.status_code, csp)
    assert "unsafe-inline" not in csp.split("script-src", 1)[1].split(";", 1)[0]


@pytest.mark.parametrize("path", ["/?q=markup", f"/documents/{MARKUP_DOC}"])
def test_hostile_markup_is_escaped(client: httpx.Client, path: str) -> None:
    html = get_html(client, path)
    assert RAW_SCRIPT not in html
    assert RAW_IMG not in html
    assert ESCAPED_SCRIPT in html
    root = parse_html(html)
    assert not root.find_all("script")
    assert not root.find_all("img")
    assert not [n for n in root.iter() if any(k.startswith("on") for k in n.attrs)]
    if path.startswith("/documents/"):
        assert RAW_SCRIPT in root.find("h1").text
        assert any(RAW_IMG in p.text for p in root.find_all("p", "para"))
    else:
        assert MARKUP_DOC in result_ids(root)


@pytest.mark.parametrize("path", ["/documents/nope", "/no-such-page"])
def test_unknown_html_page_is_html_404(client: httpx.Client, path: str) -> None:
    r = client.get(path)
    assert r.status_code == 404
    assert r.headers["content-type"].startswith("text/html")
    assert r.text.lstrip().lower().startswith("<!doctype html")
    with pytest.raises(json.JSONDecodeError):
        json.loads(r.text)
    assert parse_html(r.text).find("h1").text.strip() == "404"


def test_near_copies_are_collapsed_into_one_result(client: httpx.Client) -> None:
    data = get_json(client, "/api/v1/search", q=QUERY, limit=100)
    ids = [r["id"] for r in data["results"]]
    assert data["total"] == len(ids)
    for r in data["results"]:
        dup_ids = {d["id"] for d in r["duplicates"]}
        assert r["id"] not in dup_ids
        assert not dup_ids & set(ids), f"{r['id']}: a duplicate is listed as its own result"
    shown = [i for i in ids if i in NEAR_COPIES]
    assert len(shown) == 1, ids
    hit = next(r for r in data["results"] if r["id"] == shown[0])
    assert set(NEAR_COPIES) - {shown[0]} <= {d["id"] for d in hit["duplicates"]}

    root = parse_html(get_html(client, "/", q=QUERY))
    li = next(li for li in root.find_all("li", "result") if result_id(li) == shown[0])
    dups = li.find("span", "dups")
    copies = [d for d in hit["duplicates"] if not d["other_language"]]
    assert dups.text.strip().startswith(f"{len(copies)} other source")
    # A version in the other language is listed under the result, marked as such.
    for version in (d for d in hit["duplicates"] if d["other_language"]):
        assert li.find("p", "also-lang") is not None and version["title"] in li.text


class _BrokenEngine:
    """Delegates to a real engine but fails unexpectedly when a document is read."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def __getattr__(self, name: str) -> Any:
        return getattr(self._engine, name)

    def document(self, doc_id: str) -> Any:
        raise RuntimeError("simulated failure")


@pytest.fixture(scope="module")
def broken_server(sample_engine: Engine) -> Iterator[LiveServer]:
    with LiveServer(cast(Engine, _BrokenEngine(sample_engine))) as server:
        yield server


def _get_fresh(url: str) -> httpx.Response:
    # The server closes the connection after an unexpected error: one connection per request.
    with httpx.Client(timeout=120) as c:
        return c.get(url)


def test_unexpected_error_is_500_envelope_or_html(broken_server: LiveServer) -> None:
    r = _get_fresh(broken_server.url + "/api/v1/documents/anything")
    error = assert_envelope(r, 500)
    assert "simulated" not in error["message"], "internal details leak into the response"
    r = _get_fresh(broken_server.url + "/documents/anything")
    assert r.status_code == 500
    assert r.headers["content-type"].startswith("text/html")
    assert "simulated" not in r.text


@pytest.mark.parametrize("path", ["/api/v1/documents/anything", "/documents/anything"])
def test_unexpected_error_response_has_security_headers(
    broken_server: LiveServer, path: str
) -> None:
    # Starlette answers unhandled exceptions outside the middleware stack.
    r = _get_fresh(broken_server.url + path)
    assert r.status_code == 500
    assert "script-src 'self'" in r.headers.get("content-security-policy", "")
    assert r.headers.get("x-content-type-options") == "nosniff"


def test_api_docs_page_is_served_and_allowed_by_csp(client: httpx.Client) -> None:
    html = get_html(client, "/api/docs")
    root = parse_html(html)
    assert "/api/v1/search" in root.text
    assert "/api/v1/documents/{doc_id}" in root.text
    for s in root.find_all("script"):
        src = s.attrs.get("src")
        assert src, "inline <script> is blocked by script-src 'self'"
        assert src.startswith("/") and not src.startswith("//"), f"{src} is not same-origin"
    for link in root.find_all("link"):
        href = link.attrs.get("href", "")
        assert href.startswith("/") and not href.startswith("//"), f"{href} is not same-origin"


def test_no_page_relies_on_inline_or_foreign_scripts(
    client: httpx.Client, sample_engine: Engine
) -> None:
    """Every parameterless GET route that answers HTML only uses scripts the CSP allows."""
    app = create_app(sample_engine.settings, sample_engine)
    checked = []
    for route in app.routes:
        path = getattr(route, "path", "")
        methods = getattr(route, "methods", None) or set()
        if "GET" not in methods or "{" in path:
            continue
        r = client.get(path)
        if not r.headers.get("content-type", "").startswith("text/html"):
            continue
        checked.append(path)
        for s in parse_html(r.text).find_all("script"):
            src = s.attrs.get("src", "")
            assert src.startswith("/") and not src.startswith("//"), (path, s.attrs, s.text[:80])
    assert {"/", "/api/docs"} <= set(checked), checked
