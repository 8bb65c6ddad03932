"""A self-hosted LibreTranslate server: ``POST {url}/translate`` with a list of texts.

The server answers ``{"translatedText": [...]}`` in the order of the texts. An answer
with the wrong number of texts cannot be lined up with the question, so the batch is
asked again text by text; one that still has no translation gets ``None``. Chinese
is ``zh`` on older servers and ``zh-Hans`` on newer ones: ``/languages`` says which
(asked once). An ``api_key`` is sent when one is configured.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

import httpx

from newsdesk.endpoints import Backoff, post_json, short
from newsdesk.errors import TranslationError

NAME = "libretranslate"


def _error(message: str, retryable: bool = False, unreachable: bool = False) -> TranslationError:
    return TranslationError(message, backend=NAME, retryable=retryable, unreachable=unreachable)


class LibreTranslator:
    """A LibreTranslate client (thread-safe)."""

    name = NAME

    def __init__(
        self,
        base_url: str,
        api_key: str = "",
        *,
        timeout: float = 30.0,
        max_retries: int = 3,
        backoff: Backoff | None = None,
        sleep: Callable[[float], None] = time.sleep,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        if not base_url:
            raise _error(
                "no LibreTranslate server: set libretranslate_url (NEWSDESK_LIBRETRANSLATE_URL)"
            )
        self.base_url = base_url.rstrip("/")
        # The server (its models) made the translations: its address keys the cache.
        self.model = self.base_url
        self.api_key = api_key
        self.max_retries = max_retries
        self.backoff = backoff or Backoff()
        self.sleep = sleep
        self._codes: dict[str, str] | None = None
        self._lock = threading.Lock()
        self._http = httpx.Client(timeout=httpx.Timeout(timeout), transport=transport)

    def close(self) -> None:
        self._http.close()

    def _code(self, lang: str) -> str:
        """The server's code for ``lang`` (zh or zh-Hans), asked once from /languages."""
        if lang != "zh":
            return lang
        with self._lock:
            if self._codes is None:
                self._codes = {}
                try:
                    response = self._http.get(f"{self.base_url}/languages")
                    codes = {str(x.get("code")) for x in response.json()}
                    if "zh" not in codes and "zh-Hans" in codes:
                        self._codes["zh"] = "zh-Hans"
                except (httpx.HTTPError, ValueError, TypeError, AttributeError):
                    pass  # an old or unusual server: plain "zh" it is
            return self._codes.get(lang, lang)

    def _ask(self, q: str | list[str], source: str, target: str) -> Any:
        body: dict[str, Any] = {
            "q": q,
            "source": self._code(source),
            "target": self._code(target),
            "format": "text",
        }
        if self.api_key:
            body["api_key"] = self.api_key
        response = post_json(
            self._http,
            f"{self.base_url}/translate",
            body,
            max_retries=self.max_retries,
            backoff=self.backoff,
            sleep=self.sleep,
            error=_error,
        )
        try:
            return response.json()["translatedText"]
        except (ValueError, KeyError, TypeError) as exc:
            raise _error(
                f"{self.base_url}/translate sent no translatedText: {short(response.text)}"
            ) from exc

    def translate(self, texts: Sequence[str], source: str, target: str) -> list[str | None]:
        if not texts:
            return []
        answer = self._ask(list(texts), source, target)
        if isinstance(answer, list) and len(answer) == len(texts):
            return [a if isinstance(a, str) and a.strip() else None for a in answer]
        if len(texts) == 1 and isinstance(answer, str):
            return [answer if answer.strip() else None]
        # Misaligned answer: ask for each text alone rather than guess which is which.
        out: list[str | None] = []
        for text in texts:
            single = self._ask(text, source, target)
            if isinstance(single, list):
                single = single[0] if len(single) == 1 else None
            out.append(single if isinstance(single, str) and single.strip() else None)
        return out
