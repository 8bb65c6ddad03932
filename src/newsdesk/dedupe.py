"""Near-duplicate detection: pure functions, no I/O.

A document is reduced to shingles of 4 consecutive units, where a unit is one
Chinese character or one Latin word, so mixed-language text is handled the same
way. A MinHash signature estimates the Jaccard similarity of two shingle sets;
locality-sensitive hashing over bands of the signature finds candidates without
comparing every pair. The store keeps the band keys; this module only computes.
"""

from __future__ import annotations

import re
import struct
import unicodedata
import zlib
from collections.abc import Iterable, Sequence

import numpy as np
from datasketch import MinHash

NUM_PERM = 64
BANDS = 16
ROWS = NUM_PERM // BANDS
SHINGLE = 4
# Jaccard estimate above which two documents are the same story. Syndicated copies
# with a paragraph added or cut score 0.6-0.9; follow-ups on the same subject share
# phrases but rarely exceed 0.3.
SAME_STORY = 0.5
# Below this many shingles (about two sentences) a text is too short for similarity
# to tell a copy from a different story in the same words; only exact copies merge.
MIN_SHINGLES = 40

_UNIT = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]|[0-9a-z]+")
_SEED = 20251


def _units(text: str) -> list[str]:
    return _UNIT.findall(unicodedata.normalize("NFKC", text).lower())


def shingles(text: str) -> set[bytes]:
    units = _units(text)
    if len(units) < SHINGLE:
        return {" ".join(units).encode("utf-8")} if units else set()
    return {
        "\x1f".join(units[i : i + SHINGLE]).encode("utf-8") for i in range(len(units) - SHINGLE + 1)
    }


def _crc(data: bytes) -> int:
    return zlib.crc32(data)


def signature(paragraphs: Iterable[str]) -> np.ndarray:
    """MinHash signature (``NUM_PERM`` uint64 values) of a document body."""
    return fingerprint(paragraphs)[0]


def fingerprint(paragraphs: Iterable[str]) -> tuple[np.ndarray, int]:
    """The MinHash signature and the number of distinct shingles it was made from."""
    mh = MinHash(num_perm=NUM_PERM, seed=_SEED, hashfunc=_crc)
    sh = shingles("\n".join(paragraphs))
    if sh:
        mh.update_batch(list(sh))
    return np.asarray(mh.hashvalues, dtype=np.uint64), len(sh)


def signature_to_bytes(sig: np.ndarray) -> bytes:
    return sig.astype("<u8").tobytes()


def signature_from_bytes(data: bytes) -> np.ndarray:
    return np.frombuffer(data, dtype="<u8").astype(np.uint64)


def band_keys(sig: np.ndarray) -> list[int]:
    """One signed 63-bit key per band (fits an SQLite INTEGER)."""
    keys = []
    for b in range(BANDS):
        chunk = sig[b * ROWS : (b + 1) * ROWS].astype("<u8").tobytes()
        h = zlib.crc32(chunk, b) | (zlib.adler32(chunk, b) << 32)
        keys.append(struct.unpack("<q", struct.pack("<Q", h & 0x7FFFFFFFFFFFFFFF))[0])
    return keys


def similarity(a: np.ndarray, b: np.ndarray) -> float:
    """Estimated Jaccard similarity of two signatures."""
    return float(np.count_nonzero(a == b)) / float(len(a))


def best_match(
    sig: np.ndarray, candidates: Sequence[tuple[str, np.ndarray]], threshold: float = SAME_STORY
) -> tuple[str, float] | None:
    """The most similar candidate at or above ``threshold``, if any."""
    best: tuple[str, float] | None = None
    for cand_id, cand_sig in candidates:
        sim = similarity(sig, cand_sig)
        if sim >= threshold and (best is None or sim > best[1]):
            best = (cand_id, sim)
    return best
