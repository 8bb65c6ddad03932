"""What checking each API search response against its declared model costs.

FastAPI validates every response of a route with a ``response_model``; this times that
step (``SearchOut.model_validate(...).model_dump()``) beside the search that builds the
response, on a home given on the command line (e.g. the demo's).

    .venv/bin/python bench/api_models.py .newsdesk-demo
"""

from __future__ import annotations

import statistics
import sys
import time

from newsdesk import SearchRequest, load_settings, open_engine
from newsdesk.views import search_json
from newsdesk.web.schemas import SearchOut

ROUNDS = 200


def main(home: str) -> None:
    with open_engine(load_settings(home=home, environ={})) as engine:
        for query in ("技术主权", "rare earth export controls"):
            request = SearchRequest(query, limit=10)
            data = {**search_json(engine.search(request)), "notes": []}
            search_ms, check_ms = [], []
            for _ in range(ROUNDS):
                start = time.perf_counter()
                search_json(engine.search(request))
                search_ms.append(1000 * (time.perf_counter() - start))
                start = time.perf_counter()
                SearchOut.model_validate(data).model_dump(mode="json")
                check_ms.append(1000 * (time.perf_counter() - start))
            print(
                f"{query}: search + JSON p50 {statistics.median(search_ms):.2f} ms, "
                f"response model check p50 {statistics.median(check_ms):.3f} ms"
            )


if __name__ == "__main__":
    main(sys.argv[1])
