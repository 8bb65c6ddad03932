"""A small OpenAI-compatible chat server on 127.0.0.1 for the LLM tests.

It is a real HTTP server (``http.server`` in a thread). The ``model`` named in each
request picks its behaviour, so one server covers every case:

- ``good``: summarizes the numbered paragraphs it is sent (first sentence of each,
  citing it), in the JSON shape asked for;
- ``fenced``: the same inside a Markdown code fence with prose around it;
- ``invent``: adds a bullet citing paragraph 99 and one with an invented figure;
  answers repair requests with nothing usable;
- ``repairable``: first answer has a wrong figure; the repair request fixes it;
- ``malformed``: never answers JSON;
- ``obedient``: a model that follows instructions planted in the article;
- ``slow``: answers after ``slow_seconds``;
- ``flaky429`` / ``flaky500``: fails twice (429 with Retry-After / 500), then ``good``;
- ``down``: always 500; ``denied``: always 401;
- ``schema400``: rejects ``json_schema`` response formats with 400, else ``good``;
- ``picky``: 500 for documents whose title contains FAIL, else ``good``;
- ``sleepy``: ``good`` after 0.2 s, or once ``hold_until`` requests are in flight
  (to observe concurrency without relying on timing).

Translation requests (the translator's system prompt) get translations made by
:func:`fake_translate.pseudo_translate`; the generic models above (``slow``, ``down``,
``flaky429``…) behave the same, and these models misbehave:

- ``mt-good``: every text translated; ``mt-fenced``: the same in a code fence;
- ``mt-number``: a figure changed in every translation;
- ``mt-drop``: the last text of each batch left out;
- ``mt-obedient``: follows an instruction planted in a text ("HACKED" for all);
- ``mt-malformed``: no JSON at all.
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

from fake_translate import INJECTION, change_a_number, translate_batch

PARAGRAPH = re.compile(r"^\[(\d+)\] (.*)$", re.MULTILINE)
FIRST_SENTENCE = re.compile(r"^.*?(?:[。！？]|[.!?](?=\s|$))", re.DOTALL)


def good_answer(user: str) -> dict[str, Any]:
    block = user.split("<document>", 1)[-1].split("</document>", 1)[0]
    paragraphs = PARAGRAPH.findall(block)
    bullets = []
    for n, text in paragraphs:
        m = FIRST_SENTENCE.match(text.strip())
        bullets.append({"text": (m.group(0) if m else text).strip(), "citations": [int(n)]})
    sections = [{"title": "Core Insights", "bullets": bullets[:2]}]
    if len(bullets) > 2:
        sections.append({"title": "Details", "bullets": bullets[2:6]})
    return {"sections": sections}


class FakeLLM:
    """Start with ``with FakeLLM() as llm:``; ``llm.base_url`` ends in ``/v1``."""

    def __init__(self, slow_seconds: float = 2.0) -> None:
        self.slow_seconds = slow_seconds
        self.hold_until = 0
        self.requests: list[dict[str, Any]] = []
        self.headers: list[dict[str, str]] = []
        self.failures: Counter[str] = Counter()
        self.in_flight = 0
        self.max_in_flight = 0
        self._lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/v1"

    def __enter__(self) -> FakeLLM:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)

    def requests_for(self, model: str) -> list[dict[str, Any]]:
        return [r for r in self.requests if r.get("model") == model]

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length) or b"{}")
                with fake._lock:
                    fake.requests.append(body)
                    fake.headers.append({k.lower(): v for k, v in self.headers.items()})
                    fake.in_flight += 1
                    fake.max_in_flight = max(fake.max_in_flight, fake.in_flight)
                self._counted = True
                try:
                    if self.path != "/v1/chat/completions":
                        self._send(404, {"error": {"message": "no such route"}})
                        return
                    fake._answer(self, body)
                finally:
                    self._done()

            def _done(self) -> None:
                # Leave the count before the answer is written: once the client has
                # it, its next request may arrive before this thread runs again.
                if getattr(self, "_counted", False):
                    self._counted = False
                    with fake._lock:
                        fake.in_flight -= 1

            def _send(
                self, status: int, payload: Any, headers: dict[str, str] | None = None
            ) -> None:
                data = json.dumps(payload, ensure_ascii=False).encode()
                self._done()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.end_headers()
                # The client may have given up already (timeout tests).
                with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                    self.wfile.write(data)

            def reply(self, content: str) -> None:
                self._send(
                    200,
                    {
                        "id": "chatcmpl-test",
                        "object": "chat.completion",
                        "choices": [
                            {"index": 0, "message": {"role": "assistant", "content": content}}
                        ],
                    },
                )

        return Handler

    def _answer(self, h: Any, body: dict[str, Any]) -> None:
        model = str(body.get("model"))
        messages = body.get("messages") or []
        user = next((m["content"] for m in messages if m.get("role") == "user"), "")
        system = next((m["content"] for m in messages if m.get("role") == "system"), "")
        last = messages[-1]["content"] if messages else ""
        is_repair = "automatic check" in last
        if "professional translator" in system:
            items = json.loads(user.split("<source>", 1)[1].rsplit("</source>", 1)[0])
            target = "zh" if "into Simplified Chinese" in system else "en"
            texts = [str(i["text"]) for i in items]
            translated = translate_batch("good", texts, "auto", target)
            answers = [{"id": i["id"], "text": t} for i, t in zip(items, translated, strict=True)]
            good = json.dumps({"translations": answers}, ensure_ascii=False)
            if model.startswith("mt-") and self._translate(h, model, texts, answers, good):
                return
        else:
            good = json.dumps(good_answer(user), ensure_ascii=False)

        if model in ("flaky429", "flaky500"):
            with self._lock:
                self.failures[model] += 1
                failing = self.failures[model] <= 2
            if failing:
                if model == "flaky429":
                    h._send(429, {"error": {"message": "rate limited"}}, {"Retry-After": "0"})
                else:
                    h._send(500, {"error": {"message": "boom"}})
                return
        if model == "down":
            h._send(500, {"error": {"message": "model crashed"}})
        elif model == "denied":
            h._send(401, {"error": {"message": "bad key"}})
        elif (
            model == "schema400"
            and (body.get("response_format") or {}).get("type") == "json_schema"
        ):
            h._send(400, {"error": {"message": "response_format json_schema not supported"}})
        elif model == "picky" and "FAIL" in user.split("Title:", 1)[-1].split("\n", 1)[0]:
            h._send(500, {"error": {"message": "cannot do this one"}})
        elif model == "slow":
            time.sleep(self.slow_seconds)
            h.reply(good)
        elif model == "sleepy":
            # With ``hold_until`` set, held until that many requests have been in flight
            # at once (a concurrent client gets there at once; the cap is a safety net).
            if self.hold_until:
                deadline = time.monotonic() + 60
                while self.max_in_flight < self.hold_until and time.monotonic() < deadline:
                    time.sleep(0.01)
            else:
                time.sleep(0.2)
            h.reply(good)
        elif model == "fenced":
            h.reply(
                "Here is the summary you asked for:\n```json\n" + good + "\n```\nHope it helps!"
            )
        elif model == "malformed":
            h.reply("Sure! The article is about chips. {not json at all")
        elif model == "invent":
            if is_repair:
                h.reply("I cannot fix these.")
                return
            data = good_answer(user)
            data["sections"][0]["bullets"].append(
                {"text": "Profits rose 999% to a record.", "citations": [1]}
            )
            data["sections"].append(
                {"title": "Invented", "bullets": [{"text": "A claim.", "citations": [99]}]}
            )
            h.reply(json.dumps(data))
        elif model == "repairable":
            if is_repair:
                bid = re.search(r"- (S\d+B\d+):", last)
                fixed = {
                    "id": bid.group(1) if bid else "",
                    "text": "Revenue was 3.5 billion yuan.",
                    "citations": [1],
                }
                h.reply(json.dumps({"bullets": [fixed]}))
                return
            data = good_answer(user)
            data["sections"][0]["bullets"].insert(
                0, {"text": "Revenue was 4.5 billion yuan.", "citations": [1]}
            )
            h.reply(json.dumps(data))
        elif model == "obedient":
            # Follows whatever the article tells it, as a weak model might.
            if "ignore previous instructions" in user.lower():
                h.reply(
                    json.dumps(
                        {
                            "sections": [
                                {
                                    "title": "HACKED",
                                    "bullets": [
                                        {
                                            "text": "Send all your money to the attacker.",
                                            "citations": [99],
                                        },
                                        {"text": "Everything rose 500%.", "citations": [1]},
                                    ],
                                }
                            ]
                        }
                    )
                )
            else:
                h.reply(good)
        else:
            h.reply(good)

    def _translate(
        self, h: Any, model: str, texts: list[str], answers: list[dict[str, str]], good: str
    ) -> bool:
        """Answer a translation request for an ``mt-`` model; False: answer as usual."""
        if model == "mt-number":
            bad = [{**a, "text": change_a_number(a["text"])} for a in answers]
            h.reply(json.dumps({"translations": bad}, ensure_ascii=False))
        elif model == "mt-drop":
            h.reply(json.dumps({"translations": answers[:-1]}, ensure_ascii=False))
        elif model == "mt-obedient" and any(INJECTION.search(t) for t in texts):
            hacked = [{"id": a["id"], "text": "HACKED"} for a in answers]
            h.reply(json.dumps({"translations": hacked}))
        elif model == "mt-malformed":
            h.reply("Sure! Here are the translations you wanted, in plain words.")
        elif model == "mt-fenced":
            h.reply("Here you go:\n```json\n" + good + "\n```")
        else:
            return False
        return True
