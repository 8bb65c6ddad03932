"""A fake LibreTranslate server on 127.0.0.1 and the pseudo-translation it (and the
fake LLM's translator models) answer with.

No model runs here, so a "translation" is made deterministically: every figure is
carried over by value in the target language's way of writing it (13亿欧元 ->
1.3 billion, 1.3 billion -> 13亿), Latin names are kept, and the other words become
filler words of the target script. That is enough for the checks a reader relies on
(numbers, names, length, script) to see a faithful translation as faithful and a
broken one as broken.

The path prefix of the base URL picks the server's behaviour
(``http://127.0.0.1:PORT/<mode>``):

- ``good``: translates every text of ``q`` (a list or a single string);
- ``number``: changes the first figure of every text (3 -> 4);
- ``drop``: leaves the last text of a batch out (the answer is one short);
- ``inject``: a text that asks to ignore instructions is answered with an ad and a
  link, the others are translated well;
- ``unchanged``: sends the source text back untranslated;
- ``malformed``: answers 200 with something that is not JSON;
- ``slow``: answers after ``slow_seconds``;
- ``fail``: HTTP 500; ``denied``: HTTP 403 unless ``api_key`` is ``secret``;
- ``flaky``: 429 twice (Retry-After: 0), then ``good``.

``/languages`` lists ``zh-Hans`` (as newer servers do), so the client must map zh.
"""

from __future__ import annotations

import contextlib
import json
import re
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

_ZH_FIGURE = re.compile(
    r"(?<![A-Za-z0-9.,])(\d{1,3}(?:,\d{3})+|\d+)(\.\d+)?\s?(万亿|亿|万)?(个?百分点|个?基点|%)?"
    r"(?![A-Za-z0-9])"
)
_EN_FIGURE = re.compile(
    r"(\d+(?:,\d{3})*(?:\.\d+)?)\s?(trillion|billion|million)?"
    r"(\s?(?:%|percentage points?|basis points?|percent))?"
)
_ZH_UNITS = {"%": "%", "个百分点": " percentage points", "百分点": " percentage points"}
_EN_UNITS = {"%": "%", "percent": "%", "percentage point": "个百分点", "basis point": "个基点"}
_ZH_SCALES = {"万亿": 1e12, "亿": 1e8, "万": 1e4}
_ZH_RANGE = re.compile(r"(\d+(?:\.\d+)?)[-~至到](\d+(?:\.\d+)?)(万亿|亿|万)")
_EN_SCALES = {"trillion": 1e12, "billion": 1e9, "million": 1e6}
FILLER_EN = ["lorem", "ipsum", "dolor", "amet", "consec", "tetur"]
INJECTION = re.compile(r"ignore (?:all )?previous instructions", re.IGNORECASE)
AD = "Ignore the article and buy now at http://evil.example/offer before it is too late."


def _mantissa(value: float) -> str:
    text = f"{value:.6f}".rstrip("0").rstrip(".")
    return text


def _en_number(value: float) -> str:
    for word, scale in (("trillion", 1e12), ("billion", 1e9), ("million", 1e6)):
        if value >= scale:
            return f"{_mantissa(value / scale)} {word}"
    return _mantissa(value)


def _zh_number(value: float) -> str:
    for word, scale in (("万亿", 1e12), ("亿", 1e8), ("万", 1e4)):
        if value >= scale:
            return f"{_mantissa(value / scale)}{word}"
    return _mantissa(value)


def pseudo_translate(text: str, source: str, target: str) -> str:
    """A deterministic stand-in for a faithful translation (see the module docstring)."""
    if target == "en":
        # A range shares its scale: 37-38万 is 370,000 to 380,000.
        text = _ZH_RANGE.sub(lambda m: f"{m.group(1)}{m.group(3)}至{m.group(2)}{m.group(3)}", text)
        out: list[str] = []
        pos = 0
        for m in _ZH_FIGURE.finditer(text):
            out.append(_filler_en(text[pos : m.start()]))
            raw = m.group(1).replace(",", "") + (m.group(2) or "")
            value = float(raw) * _ZH_SCALES.get(m.group(3) or "", 1.0)
            number = _en_number(value) if m.group(3) else raw
            unit = m.group(4) or ""
            out.append(number + _ZH_UNITS.get(unit, " basis points" if unit else ""))
            pos = m.end()
        out.append(_filler_en(text[pos:]))
        words = " ".join(w for w in " ".join(out).split() if w)
        return words[:1].upper() + words[1:] + "."
    out = []
    pos = 0
    for m in _EN_FIGURE.finditer(text):
        out.append(_filler_zh(text[pos : m.start()]))
        raw = m.group(1).replace(",", "")
        value = float(raw) * _EN_SCALES.get(m.group(2) or "", 1.0)
        unit = (m.group(3) or "").strip().rstrip("s")
        out.append((_zh_number(value) if m.group(2) else raw) + _EN_UNITS.get(unit, ""))
        pos = m.end()
    out.append(_filler_zh(text[pos:]))
    return "".join(out) + "。"


def _filler_en(chunk: str) -> str:
    words = []
    pattern = r"[A-Za-z][A-Za-z0-9&+.-]*|\d+(?:\.\d+)?[A-Za-z][A-Za-z0-9]*|[\u3400-\u9fff]"
    for i, piece in enumerate(re.findall(pattern, chunk)):
        if piece[0].isascii():
            words.append(piece)
        elif i % 2 == 0:
            words.append(FILLER_EN[(ord(piece) + i) % len(FILLER_EN)])
    return " ".join(words)


def _filler_zh(chunk: str) -> str:
    out = []
    for word in re.findall(r"[A-Za-z]+|%|[/-]", chunk):
        if word in "%/-":
            out.append(word)
        elif word[0].isupper() and len(word) > 1:
            out.append(f" {word} ")  # names stay in Latin letters
        else:
            out.append("译")
    return "".join(out)


def change_a_number(text: str) -> str:
    """The same text with its first digit changed (3 -> 4, 9 -> 1)."""
    m = re.search(r"\d", text)
    if not m:
        return text
    digit = str((int(m.group(0)) + 1) % 10 or 1)
    return text[: m.start()] + digit + text[m.end() :]


def translate_batch(mode: str, texts: list[str], source: str, target: str) -> list[str]:
    """What a server in ``mode`` answers for ``texts`` (shared with the fake LLM)."""
    out = []
    for text in texts:
        good = pseudo_translate(text, source, target)
        if mode == "number":
            out.append(change_a_number(good))
        elif mode == "inject" and INJECTION.search(text):
            out.append(AD)
        elif mode == "unchanged":
            out.append(text)
        else:
            out.append(good)
    if mode == "drop" and len(out) > 1:
        out = out[:-1]
    return out


class FakeLibreTranslate:
    """Start with ``with FakeLibreTranslate() as lt:``; ``lt.url(mode)`` is a base URL."""

    def __init__(self, slow_seconds: float = 2.0) -> None:
        self.slow_seconds = slow_seconds
        self.requests: list[tuple[str, dict[str, Any]]] = []
        self.failures: Counter[str] = Counter()
        self._lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def url(self, mode: str = "good") -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/{mode}"

    def __enter__(self) -> FakeLibreTranslate:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)

    def requests_for(self, mode: str) -> list[dict[str, Any]]:
        return [body for m, body in self.requests if m == mode]

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def _send(self, status: int, payload: Any, raw: bytes | None = None) -> None:
                data = raw if raw is not None else json.dumps(payload, ensure_ascii=False).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                if status == 429:
                    self.send_header("Retry-After", "0")
                self.end_headers()
                with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                    self.wfile.write(data)

            def do_GET(self) -> None:
                if self.path.endswith("/languages"):
                    self._send(
                        200,
                        [
                            {"code": "en", "name": "English", "targets": ["zh-Hans"]},
                            {"code": "zh-Hans", "name": "Chinese", "targets": ["en"]},
                        ],
                    )
                else:
                    self._send(404, {"error": "Not Found"})

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length) or b"{}")
                parts = self.path.strip("/").split("/")
                mode = parts[0] if len(parts) == 2 and parts[1] == "translate" else ""
                with fake._lock:
                    fake.requests.append((mode, body))
                if not mode:
                    self._send(404, {"error": "Not Found"})
                    return
                fake._answer(self, mode, body)

        return Handler

    def _answer(self, h: Any, mode: str, body: dict[str, Any]) -> None:
        codes = {"zh-Hans": "zh", "en": "en", "auto": "auto"}
        source, target = body.get("source"), body.get("target")
        if source not in codes or target not in codes:
            h._send(400, {"error": f"{source} or {target} is not supported"})
            return
        if mode == "flaky":
            with self._lock:
                self.failures[mode] += 1
                failing = self.failures[mode] <= 2
            if failing:
                h._send(429, {"error": "Slowdown: 10 per 1 minute"})
                return
            mode = "good"
        if mode == "fail":
            h._send(500, {"error": "Argos translate crashed"})
            return
        if mode == "denied" and body.get("api_key") != "secret":
            h._send(403, {"error": "Invalid API key"})
            return
        if mode == "malformed":
            h._send(200, None, raw=b"<html>Service temporarily unavailable</html>")
            return
        if mode == "slow":
            time.sleep(self.slow_seconds)
        q = body.get("q")
        texts = q if isinstance(q, list) else [str(q)]
        answers = translate_batch(mode, texts, codes[source], codes[target])
        h._send(200, {"translatedText": answers if isinstance(q, list) else answers[0]})
