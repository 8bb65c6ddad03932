"""HTTP access to the model services a user runs or buys: OpenAI-compatible chat
endpoints (summaries, translation) and JSON APIs such as LibreTranslate.

What they share lives here: retries with back-off on rate limits, server errors and
timeouts (the sleep function is injected so tests never sleep, ``Retry-After`` is
honoured), errors that say whether retrying or even trying again can help, and a
defensive reader for JSON inside a model's answer. Nothing here knows about
documents or summaries.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import httpx

from newsdesk.errors import EndpointError, LLMError

RESPONSE_FORMATS = ("json_schema", "json_object", "none")
MAX_ANSWER_CHARS = 100_000

Message = Mapping[str, str]


@dataclass(frozen=True, slots=True)
class Backoff:
    """Delays between retries: ``base * 2**attempt``, capped; Retry-After wins if given."""

    base: float = 1.0
    cap: float = 30.0

    def delay(self, attempt: int, retry_after: float | None = None) -> float:
        if retry_after is not None:
            return min(max(retry_after, 0.0), self.cap)
        return float(min(self.base * 2**attempt, self.cap))


def retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("retry-after")
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


def short(text: str, limit: int = 160) -> str:
    """``text`` on one line, cut to ``limit`` characters (for error messages)."""
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def retryable_status(status: int) -> bool:
    return status in (408, 409, 425, 429) or status >= 500


ErrorFactory = Callable[..., EndpointError]


def post_json(
    http: httpx.Client,
    url: str,
    body: Mapping[str, Any],
    *,
    max_retries: int,
    backoff: Backoff,
    sleep: Callable[[float], None],
    error: ErrorFactory,
    step_down: Callable[[httpx.Response], bool] | None = None,
    rebuild: Callable[[], Mapping[str, Any]] | None = None,
) -> httpx.Response:
    """POST ``body`` as JSON; retry what may pass later, raise ``error(...)`` otherwise.

    Args:
        error: builds the exception to raise (message, ``retryable=``, ``unreachable=``).
        step_down: given a 400 answer, returns True when the request should be sent
            again in a simpler form (``rebuild`` makes it) without counting a retry.

    Returns:
        A response with a status below 400.
    """
    attempt = 0
    while True:
        try:
            response = http.post(url, json=dict(body))
        except httpx.TimeoutException:
            failure = error(f"{url} timed out", retryable=True)
            wait = None
        except httpx.TransportError as exc:
            failure = error(f"cannot reach {url}: {exc}", retryable=True, unreachable=True)
            wait = None
        else:
            status = response.status_code
            if status == 400 and step_down and rebuild and step_down(response):
                body = rebuild()
                continue
            if status < 400:
                return response
            failure = error(
                f"{url} answered HTTP {status}: {short(response.text)}",
                retryable=retryable_status(status),
            )
            wait = retry_after(response)
        if not failure.retryable or attempt >= max_retries:
            if failure.retryable:
                raise error(
                    f"{failure} (after {attempt + 1} attempts)",
                    retryable=True,
                    unreachable=failure.unreachable,
                )
            raise failure
        sleep(backoff.delay(attempt, wait))
        attempt += 1


# -- JSON inside model answers ---------------------------------------------------------
_FENCE = re.compile(r"```(?:json|JSON)?\s*(.*?)```", re.DOTALL)


def extract_json(raw: str) -> Any:
    """The first JSON value in a model answer: inside code fences or surrounded by prose.

    Raises:
        ValueError: no JSON object or array could be decoded.
    """
    raw = raw[:MAX_ANSWER_CHARS]  # a runaway answer must not make parsing quadratic
    candidates = [m.group(1) for m in _FENCE.finditer(raw)] + [raw]
    decoder = json.JSONDecoder()
    for text in candidates:
        for i, ch in enumerate(text):
            if ch in "{[":
                try:
                    value, _ = decoder.raw_decode(text, i)
                except json.JSONDecodeError:
                    continue
                if isinstance(value, dict | list):
                    return value
    raise ValueError("no JSON object found in the answer")


# -- OpenAI-compatible chat ------------------------------------------------------------
class ChatClient(Protocol):
    """Sends chat messages and returns the assistant's text."""

    def chat(self, messages: Sequence[Message], schema: Mapping[str, Any] | None = None) -> str:
        """One completion; raises :class:`LLMError` when no answer can be had."""
        ...


class OpenAIChatClient:
    """A thread-safe client for ``POST {base_url}/chat/completions`` (temperature 0).

    It steps down from JSON-schema to JSON mode to plain prompting when a server
    rejects the richer request.
    """

    def __init__(
        self,
        base_url: str,
        model: str,
        api_key: str = "",
        *,
        timeout: float = 120.0,
        max_retries: int = 3,
        response_format: str = "json_schema",
        backoff: Backoff | None = None,
        sleep: Callable[[float], None] = time.sleep,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        if not base_url:
            raise LLMError("no LLM endpoint: set llm_base_url (NEWSDESK_LLM_BASE_URL)")
        if not model:
            raise LLMError("no LLM model: set llm_model (NEWSDESK_LLM_MODEL)")
        if response_format not in RESPONSE_FORMATS:
            raise LLMError(f"response_format must be one of {', '.join(RESPONSE_FORMATS)}")
        self.url = base_url.rstrip("/") + "/chat/completions"
        self.model = model
        self.max_retries = max_retries
        self.backoff = backoff or Backoff()
        self.sleep = sleep
        self._format = RESPONSE_FORMATS.index(response_format)
        self._lock = threading.Lock()
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._http = httpx.Client(
            timeout=httpx.Timeout(timeout), headers=headers, transport=transport
        )

    def close(self) -> None:
        self._http.close()

    @property
    def response_format(self) -> str:
        return RESPONSE_FORMATS[self._format]

    def _body(
        self, messages: Sequence[Message], schema: Mapping[str, Any] | None
    ) -> dict[str, Any]:
        body: dict[str, Any] = {
            "model": self.model,
            "messages": [dict(m) for m in messages],
            "temperature": 0,
        }
        kind = self.response_format
        if kind == "json_schema" and schema is not None:
            body["response_format"] = {
                "type": "json_schema",
                "json_schema": {"name": "answer", "strict": True, "schema": dict(schema)},
            }
        elif kind in ("json_schema", "json_object"):
            body["response_format"] = {"type": "json_object"}
        return body

    def _step_down(self, tried: int) -> bool:
        with self._lock:
            if self._format == tried and self._format < len(RESPONSE_FORMATS) - 1:
                self._format += 1
            return self._format > tried

    def chat(self, messages: Sequence[Message], schema: Mapping[str, Any] | None = None) -> str:
        tried = [self._format]
        body = self._body(messages, schema)

        def step_down(response: httpx.Response) -> bool:
            # The server does not take this form of JSON request: try a simpler one.
            if "response_format" not in body or not self._step_down(tried[0]):
                return False
            tried[0] = self._format
            return True

        def rebuild() -> Mapping[str, Any]:
            nonlocal body
            body = self._body(messages, schema)
            return body

        response = post_json(
            self._http,
            self.url,
            body,
            max_retries=self.max_retries,
            backoff=self.backoff,
            sleep=self.sleep,
            error=LLMError,
            step_down=step_down,
            rebuild=rebuild,
        )
        return self._content(response)

    def _content(self, response: httpx.Response) -> str:
        try:
            data = response.json()
            content = data["choices"][0]["message"]["content"]
        except (ValueError, KeyError, IndexError, TypeError) as exc:
            raise LLMError(f"{self.url} sent no chat completion: {short(response.text)}") from exc
        if not isinstance(content, str) or not content.strip():
            raise LLMError(f"{self.url} sent an empty answer")
        return content


__all__ = [
    "RESPONSE_FORMATS",
    "Backoff",
    "ChatClient",
    "Message",
    "OpenAIChatClient",
    "extract_json",
    "post_json",
    "retry_after",
    "short",
]
