"""Real-browser tests: Playwright driving Debian's chromium against the live server."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

import pytest
from playwright.sync_api import (
    Browser,
    ConsoleMessage,
    Dialog,
    Page,
    Playwright,
    ViewportSize,
    sync_playwright,
)

from conftest import LiveServer
from fake_translate import FakeLibreTranslate
from newsdesk import load_settings, open_engine

pytestmark = pytest.mark.browser

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts"
QUERY = "技术主权"
MARKUP_DOC = "en-markup-test-01"
NEAR_COPY = "zh-asml-mistral-01"
TRANSPARENT = {"rgba(0, 0, 0, 0)", "transparent"}
PHONE: ViewportSize = {"width": 375, "height": 740}

# Records CSP violations in the page; init scripts are injected by the browser, not the page.
CSP_RECORDER = """
window.__cspViolations = [];
document.addEventListener('securitypolicyviolation', (e) => {
  window.__cspViolations.push(e.violatedDirective + ' ' + e.blockedURI);
});
"""


def _chromium_missing() -> str | None:
    if not CHROMIUM.is_file() or not os.access(CHROMIUM, os.X_OK):
        return (
            f"{CHROMIUM} is not installed: the browser tests need Debian's chromium "
            "(apt-get install -y chromium)"
        )
    return None


def test_chromium_is_installed() -> None:
    problem = _chromium_missing()
    assert problem is None, problem


@pytest.fixture(scope="module")
def playwright() -> Iterator[Playwright]:
    problem = _chromium_missing()
    if problem:
        pytest.fail(problem)
    with sync_playwright() as p:
        yield p


@pytest.fixture(scope="module")
def browser(playwright: Playwright) -> Iterator[Browser]:
    browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
    yield browser
    browser.close()


@dataclass
class PageLog:
    """What a page reported while a test ran."""

    console_errors: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)
    dialogs: list[str] = field(default_factory=list)
    failed_responses: list[str] = field(default_factory=list)


def _is_favicon(text: str) -> bool:
    return "favicon" in text.lower()


@pytest.fixture
def log() -> PageLog:
    return PageLog()


def _new_page(browser: Browser, log: PageLog, phone: bool = False) -> Iterator[Page]:
    if phone:
        context = browser.new_context(viewport=PHONE, is_mobile=True, has_touch=True)
    else:
        context = browser.new_context()
    # A safety net for a loaded machine; every wait is on a condition in the page.
    context.set_default_timeout(120_000)
    page = context.new_page()
    page.add_init_script(CSP_RECORDER)

    def on_console(msg: ConsoleMessage) -> None:
        if msg.type == "error":
            where = msg.location.get("url", "") if msg.location else ""
            text = f"{msg.text} ({where})"
            if not _is_favicon(text):
                log.console_errors.append(text)

    def on_dialog(dialog: Dialog) -> None:
        log.dialogs.append(f"{dialog.type}: {dialog.message}")
        dialog.dismiss()

    page.on("console", on_console)
    page.on("pageerror", lambda exc: log.page_errors.append(str(exc)))
    page.on("dialog", on_dialog)
    page.on(
        "response",
        lambda r: (
            log.failed_responses.append(f"{r.status} {r.url}")
            if r.status >= 400 and not _is_favicon(r.url)
            else None
        ),
    )
    yield page
    context.close()


@pytest.fixture
def page(browser: Browser, log: PageLog) -> Iterator[Page]:
    yield from _new_page(browser, log)


@pytest.fixture
def phone_page(browser: Browser, log: PageLog) -> Iterator[Page]:
    yield from _new_page(browser, log, phone=True)


def _screenshot(page: Page, name: str) -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / name
    page.screenshot(path=str(path), full_page=True)
    assert path.is_file() and path.stat().st_size > 0
    return path


def _csp_violations(page: Page) -> list[str]:
    violations = page.evaluate("window.__cspViolations || []")
    assert isinstance(violations, list)
    return [str(v) for v in violations]


def _search(page: Page, base: str, query: str) -> None:
    page.goto(base + "/")
    box = page.locator("header form[role=search] input[name=q]")
    box.click()
    box.press_sequentially(query)
    with page.expect_navigation():
        box.press("Enter")


# -- tests -------------------------------------------------------------------------------
def test_search_from_the_box(page: Page, live_server: LiveServer, log: PageLog) -> None:
    _search(page, live_server.url, QUERY)
    assert re.search(r"[?&]q=", page.url), page.url
    results = page.locator("li.result")
    assert results.count() >= 3
    assert page.locator("input[name=q]").first.input_value() == QUERY
    headlines = results.locator("h2").all_inner_texts()
    assert any(QUERY in h for h in headlines), headlines
    assert page.locator("#result-count").inner_text().split()[0].isdigit()
    _screenshot(page, "search.png")
    assert not log.page_errors


def test_citation_link_highlights_paragraph(
    page: Page, live_server: LiveServer, log: PageLog
) -> None:
    page.goto(f"{live_server.url}/?q={quote(QUERY)}")
    cite = page.locator("li.result").first.locator("a.cite").first
    href = cite.get_attribute("href")
    assert href and re.fullmatch(r"/documents/[^#]+#p\d+", href), href
    with page.expect_navigation():
        cite.click()

    m = re.search(r"#p(\d+)$", page.url)
    assert m, f"URL {page.url} does not end with #p<n>"
    target = page.locator(f"#p{m[1]}")
    assert target.count() == 1
    target.wait_for(state="visible")
    assert page.evaluate("location.hash") == f"#p{m[1]}"
    bg = target.evaluate("el => getComputedStyle(el).backgroundColor")
    assert bg not in TRANSPARENT, f"#p{m[1]} is not highlighted (background {bg})"

    others = page.locator("p.para").evaluate_all(
        "(els, id) => els.filter(e => e.id !== id).map(e => getComputedStyle(e).backgroundColor)",
        f"p{m[1]}",
    )
    assert others, "the document has a single paragraph; cannot compare"
    assert all(o in TRANSPARENT for o in others), "non-target paragraphs are highlighted too"
    assert bg not in others
    _screenshot(page, "document.png")
    assert not log.page_errors


def test_citation_shows_its_paragraph_on_focus(page: Page, live_server: LiveServer) -> None:
    page.goto(f"{live_server.url}/?q={quote(QUERY)}")
    cite = page.locator("li.result").first.locator("a.cite").first
    pop = cite.locator(".cite-pop")
    assert not pop.is_visible()
    cite.focus()
    pop.wait_for(state="visible")
    assert len(pop.inner_text()) > 10
    cite.blur()
    page.mouse.move(0, 0)
    assert not pop.is_visible()
    cite.hover()
    pop.wait_for(state="visible")


def test_clicking_a_chart_bar_filters_to_its_period(
    page: Page, live_server: LiveServer, log: PageLog
) -> None:
    page.goto(f"{live_server.url}/?q={quote('芯片')}")
    bars = page.locator("svg a.bar-link")
    assert bars.count() >= 2
    total_before = int(page.locator("#result-count").inner_text().split()[0])
    # Click the bar with the most documents (its <rect class=bar> is tallest).
    heights = page.locator("svg a.bar-link").evaluate_all(
        "els => els.map(a => { const r = a.querySelector('rect.bar');"
        " return r ? Number(r.getAttribute('height')) : 0; })"
    )
    index = max(range(len(heights)), key=lambda i: heights[i])
    with page.expect_navigation():
        bars.nth(index).click()
    assert "since=" in page.url and "until=" in page.url
    since = page.locator("input[name=since]").input_value()
    until = page.locator("input[name=until]").input_value()
    assert since and until and since <= until
    total_after = int(page.locator("#result-count").inner_text().split()[0])
    assert 1 <= total_after <= total_before
    stamps = page.locator("li.result time").evaluate_all(
        "els => els.map(e => e.getAttribute('datetime').slice(0, 10))"
    )
    assert stamps and all(since <= d <= until for d in stamps), (since, until, stamps)
    _screenshot(page, "search-filtered.png")
    assert not log.page_errors


@pytest.mark.parametrize("path", ["/?q=markup", f"/documents/{MARKUP_DOC}"])
def test_hostile_markup_stays_text(
    page: Page, live_server: LiveServer, log: PageLog, path: str
) -> None:
    page.goto(live_server.url + path)
    page.wait_for_load_state("load")
    if path.startswith("/?"):
        heading = page.locator("li.result h2").filter(has_text="markup").first
        assert page.locator(f'li.result h2 a[href^="/documents/{MARKUP_DOC}?"]').count() == 1
    else:
        heading = page.locator("h1")
        assert "<img src=x onerror=alert(1)>" in page.locator("main").inner_text()
    assert "<script>alert(1)</script>" in heading.inner_text()
    assert page.locator("main script, main img").count() == 0
    page.wait_for_timeout(300)  # give any injected handler a chance to run
    assert log.dialogs == [], log.dialogs
    assert not log.page_errors


@pytest.mark.parametrize(
    "path", ["/", f"/?q={quote(QUERY)}", f"/documents/{NEAR_COPY}", "/api/docs"]
)
def test_no_console_errors(page: Page, live_server: LiveServer, log: PageLog, path: str) -> None:
    page.goto(live_server.url + path)
    page.wait_for_load_state("networkidle")
    assert log.console_errors == []
    assert log.page_errors == []
    assert _csp_violations(page) == []
    assert log.failed_responses == []
    # The stylesheet really applied (a blocked or missing stylesheet would leave defaults).
    margin = page.evaluate("getComputedStyle(document.body).margin")
    assert margin == "0px"


@pytest.mark.parametrize(
    "path", [f"/?q={quote(QUERY)}", f"/documents/{NEAR_COPY}", f"/documents/{MARKUP_DOC}"]
)
def test_phone_viewport_has_no_horizontal_scroll(
    phone_page: Page, live_server: LiveServer, path: str
) -> None:
    phone_page.goto(live_server.url + path)
    phone_page.wait_for_load_state("load")
    width = phone_page.evaluate("window.innerWidth")
    assert width == PHONE["width"]
    scroll_width = phone_page.evaluate("document.documentElement.scrollWidth")
    assert scroll_width <= PHONE["width"] + 1, f"{path}: page is {scroll_width}px wide"
    box = phone_page.locator("input[name=q]").first.bounding_box()
    assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"] + 1


def test_phone_search_works(phone_page: Page, live_server: LiveServer) -> None:
    _search(phone_page, live_server.url, QUERY)
    assert phone_page.locator("li.result").count() >= 3
    assert phone_page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"] + 1


def test_keyboard_reaches_search_and_submits(
    page: Page, live_server: LiveServer, log: PageLog
) -> None:
    page.goto(live_server.url + "/")
    page.wait_for_load_state("load")
    is_box = "() => document.activeElement && document.activeElement.name === 'q'"
    if not page.evaluate(is_box):
        for _ in range(10):
            page.keyboard.press("Tab")
            if page.evaluate(is_box):
                break
    assert page.evaluate(is_box), "the search box is neither autofocused nor reachable by Tab"
    page.keyboard.type(QUERY)
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert "q=" in page.url
    assert page.locator("li.result").count() >= 3
    assert page.locator("input[name=q]").first.input_value() == QUERY
    assert not log.page_errors


def test_harness_sees_dialogs_and_csp_violations(
    page: Page, live_server: LiveServer, log: PageLog
) -> None:
    """The recorders the other tests rely on do notice dialogs and blocked inline scripts."""
    page.goto(live_server.url + "/")
    page.evaluate("() => alert('probe')")
    assert log.dialogs == ["alert: probe"]
    page.evaluate(
        """() => {
        const s = document.createElement('script');
        s.textContent = "alert('inline')";
        document.body.appendChild(s);
    }"""
    )
    page.wait_for_function("window.__cspViolations.length > 0")
    assert any(v.startswith("script-src") for v in _csp_violations(page)), _csp_violations(page)
    assert log.dialogs == ["alert: probe"], "an inline script ran despite the CSP"
    page.wait_for_timeout(200)
    assert any("Content Security Policy" in e for e in log.console_errors), log.console_errors


# -- reading the page (issue 11) ---------------------------------------------------------
Reading = tuple[LiveServer, FakeLibreTranslate]


@pytest.fixture(scope="module")
def libre() -> Iterator[FakeLibreTranslate]:
    with FakeLibreTranslate() as server:
        yield server


@contextlib.contextmanager
def _translating_server(home: Path, libre: FakeLibreTranslate, mode: str) -> Iterator[LiveServer]:
    settings = load_settings(home=home, environ={"NEWSDESK_LIBRETRANSLATE_URL": libre.url(mode)})
    with open_engine(settings) as engine, LiveServer(engine) as server:
        yield server


@pytest.fixture(scope="module")
def reading_server(
    sample_home: Path, tmp_path_factory: pytest.TempPathFactory, libre: FakeLibreTranslate
) -> Iterator[Reading]:
    """The sample corpus with a (fake) LibreTranslate server as its translator."""
    home = tmp_path_factory.mktemp("reading") / "home"
    shutil.copytree(sample_home, home)
    with _translating_server(home, libre, "good") as server:
        yield server, libre


def test_timeline_has_a_count_axis_counts_and_dated_ticks(
    page: Page, live_server: LiveServer, log: PageLog
) -> None:
    page.goto(f"{live_server.url}/?q={quote('芯片')}")
    chart = page.locator("figure.timeline svg")
    counts = [
        int(c)
        for c in chart.locator("a.bar-link").evaluate_all(
            "els => els.map(a => a.getAttribute('aria-label').match(/: (\\d+) document/)[1])"
        )
    ]
    assert sum(counts) >= 3 and max(counts) >= 1
    axis = [int(t) for t in chart.locator("text.axis-label").all_text_contents()]
    assert axis[0] == max(counts) and axis[-1] == 0, axis
    written = [int(t) for t in chart.locator("text.bar-count").all_text_contents()]
    assert sorted(written) == sorted(c for c in counts if c), "every bar's count is written"
    ticks = chart.locator("text.tick").all_text_contents()
    assert len(ticks) >= 3 and re.fullmatch(r"\d{4}-\d{2}(-\d{2})?", ticks[0]), ticks
    for label in chart.locator("text.axis-label, text.bar-count, text.tick").all():
        box = label.bounding_box()
        assert box is not None and box["width"] > 0, "a chart label is not drawn"
    caption = page.locator("figure.timeline figcaption").inner_text()
    assert f"{sum(counts)} matching documents per " in caption
    # A count sits above its bar.
    bar = chart.locator("a.bar-link").first
    count_box = bar.locator("text.bar-count").bounding_box()
    rect_box = bar.locator("rect.bar").bounding_box()
    assert count_box and rect_box and count_box["y"] + count_box["height"] <= rect_box["y"] + 1
    _screenshot(page, "timeline.png")
    assert not log.page_errors and _csp_violations(page) == []


def test_document_page_keeps_the_query_and_links_back_to_the_results(
    page: Page, live_server: LiveServer, log: PageLog
) -> None:
    _search(page, live_server.url, QUERY)
    page.locator("li.result").nth(1).locator("h2 a").click()
    page.wait_for_url(re.compile(r"/documents/"))
    assert page.locator("header input[name=q]").input_value() == QUERY
    back = page.locator("a.back-link")
    assert QUERY in back.inner_text()
    with page.expect_navigation():
        back.click()
    assert page.locator("input[name=q]").first.input_value() == QUERY
    assert page.locator("li.result").count() >= 3
    assert not log.page_errors


def test_phone_shows_the_core_viewpoint_first_and_the_rest_a_tap_away(
    phone_page: Page, live_server: LiveServer
) -> None:
    phone_page.goto(f"{live_server.url}/?q={quote(QUERY)}")
    result = phone_page.locator("li.result").filter(has=phone_page.locator("details.more")).first
    core = result.locator(".sum-section.core li").first
    more = result.locator("details.more")
    hidden = more.locator("li.bullet").first
    assert core.is_visible() and not hidden.is_visible()
    more.locator("summary").tap()
    hidden.wait_for(state="visible")
    _screenshot(phone_page, "phone-more.png")
    # More results fit a phone screen than full summaries did.
    tops = phone_page.locator("li.result").evaluate_all(
        "els => els.map(e => e.getBoundingClientRect().top)"
    )
    assert len([t for t in tops if t < 3 * PHONE["height"]]) >= 3


def test_wide_screen_shows_every_point_without_a_tap(page: Page, live_server: LiveServer) -> None:
    page.goto(f"{live_server.url}/?q={quote(QUERY)}")
    more = page.locator("details.more").first
    assert not more.locator("summary").is_visible()
    bullets = more.locator("li.bullet")
    assert bullets.count() >= 1 and all(b.is_visible() for b in bullets.all())


def test_language_switch_is_remembered_and_the_original_is_a_tap_away(
    page: Page, reading_server: Reading, log: PageLog
) -> None:
    server, _ = reading_server
    page.goto(f"{server.url}/?q={quote(QUERY)}&lang=original")
    with page.expect_navigation():
        page.locator("nav.langs a", has_text="English").click()
    assert page.locator("nav.langs a.current").inner_text() == "English"
    cookies = {c["name"]: c["value"] for c in page.context.cookies()}
    assert cookies.get("newsdesk_lang") == "en"
    # Another page, no ?lang=: the browser remembered it.
    page.goto(f"{server.url}/documents/zh-asml-mistral-01")
    translated = page.locator("li.bullet.mt").first
    text = translated.locator(".bullet-text")
    original = text.get_attribute("title")
    assert original and any("\u4e00" <= ch <= "\u9fff" for ch in original)
    assert not any("\u4e00" <= ch <= "\u9fff" for ch in text.inner_text())
    toggle = translated.locator("details.orig")
    assert not toggle.locator("span").is_visible()
    toggle.locator("summary").click()
    toggle.locator("span").wait_for(state="visible")
    assert toggle.locator("span").inner_text() == original
    assert "machine-translated by LibreTranslate" in page.locator(".provenance").inner_text()
    assert page.locator("h1").get_attribute("title")  # the original title on hover
    _screenshot(page, "document-en.png")
    assert not log.page_errors and _csp_violations(page) == []


def test_a_translation_that_changed_a_number_is_shown_in_the_original_marked(
    page: Page, sample_home: Path, libre: FakeLibreTranslate, tmp_path: Path
) -> None:
    home = tmp_path / "home"
    shutil.copytree(sample_home, home)
    with _translating_server(home, libre, "number") as bad:
        page.goto(f"{bad.url}/documents/zh-asml-mistral-01?lang=en")
        marks = page.locator("li.bullet.mt-kept")
        assert marks.count() >= 1 and page.locator("li.bullet.mt").count() == 0
        first = marks.first
        assert first.locator(".mt-mark").is_visible() and "original" in first.inner_text()
        assert "number" in first.locator(".mt-why").inner_text()
        assert any("\u4e00" <= ch <= "\u9fff" for ch in first.locator(".bullet-text").inner_text())
        _screenshot(page, "document-number-kept.png")
