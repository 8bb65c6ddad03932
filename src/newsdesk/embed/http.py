"""An OpenAI-compatible ``/v1/embeddings`` endpoint (Ollama, vLLM, llama.cpp, TEI, cloud)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import httpx
import numpy as np

from newsdesk.embed import Vectors, normalize_rows
from newsdesk.errors import BackendUnavailable

BATCH = 64


class HTTPEmbedder:
    """Posts batches of texts to ``<base_url>/embeddings`` and reads ``data[].embedding``.

    ``dim`` is learnt from the first answer unless given; every later answer must match.
    """

    def __init__(
        self,
        base_url: str,
        model: str,
        api_key: str = "",
        dim: int = 0,
        timeout: float = 60.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        if not base_url:
            raise BackendUnavailable(
                "the http embedder needs embed_base_url (e.g. http://127.0.0.1:11434/v1)",
                backend="http",
            )
        if not model:
            raise BackendUnavailable("the http embedder needs embed_model", backend="http")
        self.base_url = base_url.rstrip("/")
        self.model = model
        self.id = f"http:{model}"
        self.dim = dim
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._client = httpx.Client(timeout=timeout, headers=headers, transport=transport)

    def close(self) -> None:
        self._client.close()

    def _post(self, batch: list[str]) -> list[list[float]]:
        url = f"{self.base_url}/embeddings"
        try:
            response = self._client.post(url, json={"model": self.model, "input": batch})
            response.raise_for_status()
            payload: Any = response.json()
        except httpx.HTTPStatusError as exc:
            raise BackendUnavailable(
                f"embedding server {url} answered {exc.response.status_code}", backend="http"
            ) from exc
        except (httpx.HTTPError, ValueError) as exc:
            raise BackendUnavailable(
                f"embedding server {url} failed: {exc}", backend="http"
            ) from exc
        try:
            items = sorted(payload["data"], key=lambda d: int(d.get("index", 0)))
            rows = [[float(x) for x in item["embedding"]] for item in items]
        except (KeyError, TypeError, ValueError) as exc:
            raise BackendUnavailable(
                f"embedding server {url} sent an unexpected answer ({exc!r})", backend="http"
            ) from exc
        if len(rows) != len(batch):
            raise BackendUnavailable(
                f"embedding server {url} returned {len(rows)} vectors for {len(batch)} texts",
                backend="http",
            )
        return rows

    def embed(self, texts: Sequence[str], *, query: bool = False) -> Vectors:
        out: list[list[float]] = []
        for start in range(0, len(texts), BATCH):
            batch = [t if t.strip() else " " for t in texts[start : start + BATCH]]
            out.extend(self._post(batch))
        if not out:
            return np.zeros((0, self.dim), dtype=np.float32)
        widths = {len(r) for r in out}
        if len(widths) != 1 or (self.dim and widths != {self.dim}):
            raise BackendUnavailable(
                f"embedding server returned vectors of width {sorted(widths)}, "
                f"expected {self.dim or 'one width'}",
                backend="http",
            )
        self.dim = widths.pop()
        return normalize_rows(np.asarray(out, dtype=np.float32))
