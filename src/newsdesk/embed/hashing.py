"""A deterministic embedder from hashed character n-grams: no model, no downloads.

It knows nothing about meaning, only shared character n-grams, which is what tests
need: fast, stable across runs and machines, and similar texts get similar vectors.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import numpy as np

from newsdesk.embed import Vectors, normalize_rows
from newsdesk.text import normalize


class HashingEmbedder:
    """Character 1-3-grams hashed (blake2b) into ``dim`` signed buckets."""

    def __init__(self, dim: int = 256) -> None:
        self.dim = dim
        self.id = f"hashing-char3-v1-{dim}"

    def _row(self, text: str) -> np.ndarray:
        row = np.zeros(self.dim, dtype=np.float32)
        chars = normalize(text).lower()
        for n in (1, 2, 3):
            for i in range(len(chars) - n + 1):
                gram = chars[i : i + n]
                if gram.isspace():
                    continue
                h = int.from_bytes(hashlib.blake2b(gram.encode(), digest_size=8).digest(), "big")
                row[h % self.dim] += 1.0 if (h >> 32) & 1 else -1.0
        return row

    def embed(self, texts: Sequence[str], *, query: bool = False) -> Vectors:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        return normalize_rows(np.stack([self._row(t) for t in texts]))
