"""FastAPI application: the composition of pages, JSON API, errors and security.

HTML is rendered on the server with autoescaping on, so every string that comes
from an article, a feed or a query reaches the browser as text. A strict
Content-Security-Policy forbids inline scripts and event handlers outright.

A server is ready only when warm: :class:`WarmUp` loads the models and indexes and
runs one query on a background thread, and ``/api/v1/health`` answers 503
``warming_up`` until it is done, so a load balancer or a test never sends the first
real query to a cold process.
"""

from __future__ import annotations

import contextlib
import gc
import sys
import threading
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from starlette.datastructures import MutableHeaders
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from newsdesk import __version__
from newsdesk.config import Settings
from newsdesk.engine import Engine, open_engine
from newsdesk.errors import (
    BackendUnavailable,
    InputError,
    NewsdeskError,
    NotFound,
    PermissionDenied,
    WarmingUp,
)
from newsdesk.web import api, pages
from newsdesk.web.workers import BackgroundRole

HERE = Path(__file__).parent
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)


def _secure(response: Response) -> None:
    for name, value in _SECURITY_HEADERS:
        response.headers[name] = value


def error_response(status: int, code: str, message: str) -> JSONResponse:
    """The one JSON error envelope of every API route."""
    return JSONResponse(
        {"ok": False, "error": {"status": status, "code": code, "message": message}},
        status_code=status,
    )


SAFE_METHODS = ("GET", "HEAD", "OPTIONS")
_SECURITY_HEADERS = (
    ("Content-Security-Policy", CSP),
    ("X-Content-Type-Options", "nosniff"),
    ("Referrer-Policy", "same-origin"),
)


class SecurityHeaders:
    """Set the security headers on every response (a plain ASGI middleware: Starlette's
    ``@app.middleware("http")`` costs a task and a stream per request)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_secured(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in _SECURITY_HEADERS:
                    headers[name] = value
            await send(message)

        await self.app(scope, receive, send_secured)


class TokenFirst:
    """Refuse API requests that change data without the right token, before any body.

    Runs outside :class:`BodyLimit`, so an unauthenticated upload is answered (401,
    or 403 when writes are disabled) from its headers alone: not one byte of its body
    is read, and the connection is closed rather than drained.
    """

    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        self.app = app
        self.settings = settings

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] == "http"
            and scope["method"] not in SAFE_METHODS
            and scope["path"].startswith("/api/")
        ):
            header = dict(scope.get("headers", [])).get(b"authorization", b"")
            denied = api.write_denied(self.settings, header.decode("latin-1") or None)
            if denied is not None:
                code = "unauthorized" if denied.status == 401 else "forbidden"
                response = error_response(denied.status, code, str(denied))
                if denied.status == 401:
                    response.headers["WWW-Authenticate"] = "Bearer"
                response.headers["Connection"] = "close"
                _secure(response)
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)


class BodyLimit:
    """Refuse request bodies over ``max_bytes`` (declared or actually sent) with 413.

    The body is read up front (it is bounded by the limit) and replayed to the app,
    so an oversized chunked upload is refused before any handler sees it.
    """

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD", "OPTIONS"):
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers", [])).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            await self._reject(scope, receive, send)
            return
        messages: list[Message] = []
        size = 0
        while True:
            message = await receive()
            messages.append(message)
            if message["type"] != "http.request":
                break
            size += len(message.get("body", b""))
            if size > self.max_bytes:
                await self._reject(scope, receive, send)
                return
            if not message.get("more_body", False):
                break
        replay = iter(messages)

        async def replayed() -> Message:
            try:
                return next(replay)
            except StopIteration:
                return await receive()

        await self.app(scope, replayed, send)

    async def _reject(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = error_response(413, "too_large", f"request body over {self.max_bytes} bytes")
        _secure(response)
        await response(scope, receive, send)


class WarmUp:
    """Warms a server's engine on a daemon thread and says when it is ready.

    Ready means: the engine is open (its index caught up with the store at opening),
    the embedder's model and the vectors are loaded, one search has run and the page
    templates are compiled. A warm-up that fails (an embedding endpoint that is down)
    still ends in ready, with :attr:`error` saying why: the server can serve lexical
    search, and health reports the problem rather than staying unavailable.
    Embedding documents left without vectors is not part of it: that goes on in the
    background while the server serves, and health reports it as ``catching_up``.
    """

    def __init__(
        self,
        engine: Engine,
        templates: Jinja2Templates,
        on_ready: Callable[[WarmUp], None] | None = None,
    ) -> None:
        self.engine = engine
        self.templates = templates
        self.on_ready = on_ready
        self.error = ""
        self.seconds = 0.0
        self._ready = threading.Event()

    @property
    def ready(self) -> bool:
        return self._ready.is_set()

    def wait(self, timeout: float | None = None) -> bool:
        return self._ready.wait(timeout)

    def check(self) -> None:
        """Raise :class:`WarmingUp` until the server is warm."""
        if not self.ready:
            raise WarmingUp("warming up: loading the models and indexes; retry in a moment")

    def start(self) -> threading.Thread:
        thread = threading.Thread(target=self.run, name="newsdesk-warm-up", daemon=True)
        thread.start()
        return thread

    def run(self) -> None:
        started = time.perf_counter()
        try:
            self.engine.warm_up()
            env = self.templates.env
            for name in env.list_templates():
                env.get_template(name)
        except Exception as exc:  # reported by /health; the server serves what it can
            self.error = f"{type(exc).__name__}: {exc}"
        finally:
            self.seconds = time.perf_counter() - started
            try:
                if self.on_ready is not None:
                    self.on_ready(self)  # just before health says ready
            finally:
                self._ready.set()


def freeze_heap() -> None:
    """Leave what a warm server has loaded out of the garbage collector's passes.

    The engine's objects live as long as the process; without this every full
    collection walks them all again (at a million documents 0.8 ms of each search's
    CPU went to collections, 0.1 ms after; bench/million.md).
    """
    gc.collect()
    gc.freeze()


def print_ready(warm: WarmUp) -> None:
    """Say on stderr that the server is warm (``newsdesk serve``); freeze the heap."""
    freeze_heap()
    problem = f" (warm-up failed: {warm.error})" if warm.error else ""
    print(f"ready: warm after {warm.seconds:.1f} s{problem}", file=sys.stderr, flush=True)


def create_app(
    settings: Settings,
    engine: Engine | None = None,
    *,
    on_ready: Callable[[WarmUp], None] | None = None,
    role: BackgroundRole | None = None,
    threads: int | None = None,
) -> FastAPI:
    """Build the ASGI app over ``engine`` (opened from ``settings`` when not given).

    The app warms up on a background thread (:class:`WarmUp`, ``app.state.warm_up``);
    ``on_ready`` is called when it is warm. ``role``: whether this process does the
    home's background work (:mod:`newsdesk.web.workers`); without one it does.
    ``threads``: how many requests the process works on at once (default: anyio's
    40). Python runs one thread at a time, so under load more threads only add
    switching: at a million documents with 8 clients a search cost 26.6 ms of CPU
    with the default and 19.8 ms with 2 threads (bench/million.md); but a slow
    request (an ingest by URL, a translation) holds its thread meanwhile.
    """
    eng = engine or open_engine(settings, background=role is None or role.held)
    if role is not None:
        eng.claim_background = role.try_take
    if eng.vectors is not None:
        # A server grows the vector graph on a thread, never inside a request.
        eng.vectors.grow_in_background = True

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        if threads is not None:
            import anyio.to_thread

            anyio.to_thread.current_default_thread_limiter().total_tokens = threads
        yield

    app = FastAPI(
        lifespan=lifespan,
        title="newsdesk",
        version=__version__,
        description="Search news by topic; structured summaries with verified citations.",
        # FastAPI's interactive docs load scripts from a CDN; newsdesk runs offline and
        # forbids foreign scripts, so /api/docs is a server-rendered page instead.
        docs_url=None,
        openapi_url="/api/v1/openapi.json",
        redoc_url=None,
    )
    templates = Jinja2Templates(directory=str(HERE / "templates"))
    app.mount("/static", StaticFiles(directory=str(HERE / "static")), name="static")
    app.add_middleware(BodyLimit, max_bytes=settings.max_request_bytes)
    # Added after BodyLimit, so it runs before it: the token is checked first.
    app.add_middleware(TokenFirst, settings=settings)

    # Added last, so it runs first: every response leaves with the headers.
    app.add_middleware(SecurityHeaders)

    def _is_api(request: Request) -> bool:
        return request.url.path.startswith("/api/")

    def _html_error(request: Request, status: int, message: str) -> Response:
        return templates.TemplateResponse(
            request, "error.html", {"status": status, "message": message}, status_code=status
        )

    def _allowed(request: Request) -> str:
        # Starlette's 405 names only the first route that matched the path; a path
        # served by several routes (GET, POST and DELETE /api/v1/feeds) allows them all.
        methods: set[str] = set()
        for route in app.routes:
            match, _ = route.matches(request.scope)
            if match is Match.PARTIAL:
                methods.update(getattr(route, "methods", None) or ())
        return ", ".join(sorted(methods))

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        response: Response
        if _is_api(request):
            response = error_response(exc.status_code, code, str(exc.detail))
        else:
            response = _html_error(request, exc.status_code, str(exc.detail))
        response.headers.update(exc.headers or {})
        if exc.status_code == 405:
            response.headers["Allow"] = _allowed(request) or response.headers.get("Allow", "")
        return response

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> Response:
        parts = []
        for e in exc.errors():
            loc = ".".join(str(x) for x in e.get("loc", ()) if x not in ("query", "path"))
            parts.append(f"{loc}: {e.get('msg', 'invalid')}")
        message = "; ".join(parts) or "invalid request"
        if _is_api(request):
            return error_response(422, "invalid_request", message)
        return _html_error(request, 422, message)

    @app.exception_handler(NewsdeskError)
    async def newsdesk_error(request: Request, exc: NewsdeskError) -> Response:
        headers: dict[str, str] = {}
        if isinstance(exc, NotFound):
            status, code = 404, "not_found"
        elif isinstance(exc, InputError):
            status, code = 400, "bad_request"
        elif isinstance(exc, WarmingUp):
            status, code = 503, "warming_up"
            headers["Retry-After"] = "1"
        elif isinstance(exc, BackendUnavailable):
            # A search index or service that is down: try again later, nothing is wrong
            # with the request.
            status, code = 503, "unavailable"
        elif isinstance(exc, PermissionDenied):
            status = exc.status
            code = "unauthorized" if status == 401 else "forbidden"
            if status == 401:
                headers["WWW-Authenticate"] = "Bearer"
        else:
            status, code = 500, type(exc).__name__
        if _is_api(request):
            response: Response = error_response(status, code, str(exc))
        else:
            response = _html_error(request, status, str(exc))
        response.headers.update(headers)
        return response

    @app.exception_handler(Exception)
    async def unexpected_error(request: Request, exc: Exception) -> Response:
        # Starlette answers unexpected errors outside the middleware stack, so the
        # security headers are set here too.
        response: Response
        if _is_api(request):
            response = error_response(500, "internal_error", "internal error")
        else:
            response = _html_error(request, 500, "internal error")
        _secure(response)
        return response

    warm_up = WarmUp(eng, templates, on_ready)
    app.state.warm_up = warm_up
    pages.register(app, eng, templates)
    api.register(app, eng, settings)
    app.state.engine = eng
    # A crash or a deferred ingest may have left documents without vectors: a server
    # embeds them while it serves (``/health`` says so).
    eng.catch_up_in_background()
    warm_up.start()
    return app


__all__ = ["WarmUp", "create_app", "error_response", "print_ready"]
