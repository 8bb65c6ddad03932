"""Text embedders behind one small protocol.

An :class:`Embedder` turns texts into L2-normalised float32 rows. Its ``id`` names
the model and anything that changes the vectors (the vector index saves it and
refuses to mix vectors from two embedders); ``dim`` is the row width.

Concrete embedders live in their own modules and are chosen by name in
:mod:`newsdesk.engine` only.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import numpy as np
from numpy.typing import NDArray

Vectors = NDArray[np.float32]


class Embedder(Protocol):
    """Turns texts into unit-length vectors; ``query=True`` marks search queries."""

    id: str
    dim: int

    def embed(self, texts: Sequence[str], *, query: bool = False) -> Vectors: ...


def normalize_rows(matrix: NDArray[np.floating]) -> Vectors:
    """Rows scaled to unit length (all-zero rows stay zero), as float32."""
    out = np.asarray(matrix, dtype=np.float32)
    norms = np.linalg.norm(out, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    unit: Vectors = (out / norms).astype(np.float32, copy=False)
    return unit


__all__ = ["Embedder", "Vectors", "normalize_rows"]
