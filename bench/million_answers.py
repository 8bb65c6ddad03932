"""The search API's answers at a million documents, to compare two versions of the code.

    .venv/bin/python bench/million_answers.py /tmp/new.json
    git archive main src | tar -x -C /tmp/main-src
    PYTHONPATH=/tmp/main-src/src .venv/bin/python bench/million_answers.py /tmp/old.json
    .venv/bin/python bench/million_answers.py --compare /tmp/old.json /tmp/new.json

Calls the app in process (no HTTP) on the bench home (``bench/million.py``) for the 16
bench queries, both sorts, and three variants (plain, ``doc_lang=zh``, ``limit=50``):
96 answers, each its status, headers and JSON body.
"""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from million_data import CACHE
from web_load import QUERIES

HOME = CACHE / "home-use-1000000"


def answers() -> dict[str, Any]:
    from newsdesk import load_settings
    from newsdesk.web.app import create_app

    settings = load_settings(home=HOME, environ={"NEWSDESK_EMBEDDER": "use-m3"})
    app = create_app(settings)
    app.state.warm_up.wait()

    async def call(query_string: str) -> list[Any]:
        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": "GET",
            "scheme": "http",
            "path": "/api/v1/search",
            "raw_path": b"/api/v1/search",
            "query_string": query_string.encode(),
            "headers": [(b"host", b"127.0.0.1")],
            "client": ("127.0.0.1", 1),
            "server": ("127.0.0.1", 2),
            "root_path": "",
        }
        sent: list[dict[str, Any]] = []

        async def receive() -> dict[str, Any]:
            return {"type": "http.request", "body": b"", "more_body": False}

        async def send(message: dict[str, Any]) -> None:
            sent.append(message)

        await app(scope, receive, send)
        headers = {k.decode(): v.decode() for k, v in sent[0]["headers"]}
        headers.pop("content-length", None)
        body = b"".join(m.get("body", b"") for m in sent[1:])
        return [sent[0]["status"], sorted(headers.items()), json.loads(body)]

    async def run() -> dict[str, Any]:
        out = {}
        for q in QUERIES:
            for sort in ("newest", "relevance"):
                for extra in ({}, {"doc_lang": "zh"}, {"limit": "50"}):
                    qs = urlencode({"q": q, "sort": sort, **extra})
                    out[qs] = await call(qs)
        return out

    return asyncio.run(run())


def main() -> int:
    if sys.argv[1:2] == ["--compare"]:
        old, new = (json.loads(Path(p).read_text(encoding="utf-8")) for p in sys.argv[2:4])
        same = [k for k in old if old[k] == new.get(k)]
        print(f"{len(same)} of {len(old)} answers the same")
        for k in old:
            if old[k] != new.get(k):
                print("differs:", k)
        return 0 if len(same) == len(old) == len(new) else 1
    Path(sys.argv[1]).write_text(
        json.dumps(answers(), ensure_ascii=False, sort_keys=True), encoding="utf-8"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
