"""Near-duplicate detection: pure functions, no I/O.

A document is reduced to shingles of 4 consecutive units, where a unit is one
Chinese character or one Latin word, so mixed-language text is handled the same
way. Before that the text is folded: NFKC (full-width forms), lower case, and
traditional Chinese to simplified (OpenCC), so a copy that differs only in
punctuation, case or script is the same text. Punctuation is not a unit at all.

A MinHash signature estimates the Jaccard similarity of two shingle sets;
locality-sensitive hashing over bands of the signature finds candidates without
comparing every pair. The store keeps the band keys; this module only computes.
Everything is vectorised with numpy: shingles are hashed by a polynomial over the
unit codes, and each of the ``NUM_PERM`` hash functions is a multiply-shift hash.
"""

from __future__ import annotations

import re
import unicodedata
import zlib
from collections.abc import Iterable, Sequence

import numpy as np
import opencc

NUM_PERM = 64
# 21 bands of 3 rows (63 of the 64 values): a pair at similarity 0.45 becomes a
# candidate with probability 1-(1-0.45**3)**21 = 0.86 (16 bands of 4: 0.53), an
# unrelated pair at 0.05 with 0.3%. Chosen by measurement (bench/dedupe.md).
BANDS = 21
ROWS = 3
SHINGLE = 4
# Estimated Jaccard similarity at or above which two documents are the same story.
# Measured on 500 real articles, 759 edited copies and 189 look-alike pairs
# (bench/dedupe.md, `newsdesk eval dedupe`): 0.45 with the time window below keeps
# every look-alike apart (precision 1.000) at recall 0.959; 0.5 loses recall (0.951),
# 0.4 merged one same-week follow-up.
SAME_STORY = 0.45
# Below this many shingles (about two sentences) a text is too short for similarity
# to tell a copy from a different story in the same words; only exact copies merge.
MIN_SHINGLES = 40
# Copies of one story are published within days of each other; texts that match but
# lie further apart (the same annual ceremony, a recurring daily report) are different
# stories. Seconds; None turns the rule off. Set by measurement (bench/dedupe.md).
STORY_WINDOW: int | None = 7 * 86400
# Signatures from another version of this module are not comparable: the store keeps
# these parameters, and a home made with others gets its signatures recomputed.
VERSION = 2

PARAMS: dict[str, int] = {
    "version": VERSION,
    "num_perm": NUM_PERM,
    "bands": BANDS,
    "rows": ROWS,
    "shingle": SHINGLE,
}

_UNIT = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]|[0-9a-z]+")
_SEED = 20251
_rng = np.random.default_rng(_SEED)
# Odd 64-bit multipliers and offsets of the multiply-shift hash family.
_A = (_rng.integers(0, 2**63, NUM_PERM, dtype=np.uint64) << np.uint64(1)) | np.uint64(1)
_B = _rng.integers(0, 2**63, NUM_PERM, dtype=np.uint64)
_POLY = np.uint64(0x9E3779B97F4A7C15)
_CHUNK = 4096
_MAX_WORD = 64
_WORD_BASE = 0x100000001B3
# BASE**i modulo 2**64, the weights of a word's characters in its polynomial hash.
_WORD_POW = np.array([pow(_WORD_BASE, i, 2**64) for i in range(_MAX_WORD)], dtype=np.uint64)
_MASK63 = 0x7FFFFFFFFFFFFFFF
_EMPTY = np.full(NUM_PERM, np.iinfo(np.uint64).max, dtype=np.uint64)
_to_simplified = opencc.OpenCC("t2s").convert


def fold(text: str) -> str:
    """Text as compared for duplicates: NFKC, lower case, simplified Chinese."""
    return str(_to_simplified(unicodedata.normalize("NFKC", text).lower()))


def _unit_codes(text: str) -> np.ndarray:
    """One code per unit in reading order: a CJK character's code point, or a hash
    (above 2**32) of a run of ASCII letters and digits. Vectorised over code points;
    the same units as ``_UNIT.findall`` (checked by a test)."""
    cp = np.frombuffer(fold(text).encode("utf-32-le"), dtype=np.uint32).astype(np.uint64)
    if len(cp) == 0:
        return cp
    cjk = ((cp >= 0x3400) & (cp <= 0x9FFF)) | ((cp >= 0xF900) & (cp <= 0xFAFF))
    alnum = ((cp >= 0x30) & (cp <= 0x39)) | ((cp >= 0x61) & (cp <= 0x7A))
    starts = alnum & ~np.concatenate(([False], alnum[:-1]))
    start_pos = np.flatnonzero(starts)
    positions = np.flatnonzero(cjk)
    codes = cp[cjk]
    if len(start_pos):
        run = np.cumsum(starts)[alnum] - 1
        offset = np.flatnonzero(alnum) - start_pos[run]
        with np.errstate(over="ignore"):
            terms = (cp[alnum] + np.uint64(1)) * _WORD_POW[np.minimum(offset, _MAX_WORD - 1)]
            words = np.add.reduceat(terms, np.flatnonzero(np.diff(run, prepend=-1)))
        words = (words & np.uint64(0xFFFF_FFFF_FFFF)) | np.uint64(1 << 48)
        positions = np.concatenate([positions, start_pos])
        codes = np.concatenate([codes, words])
        codes = codes[np.argsort(positions, kind="stable")]
    return codes


def shingle_hashes(text: str) -> np.ndarray:
    """The distinct 64-bit hashes of the text's 4-unit shingles (sorted)."""
    codes = _unit_codes(text)
    if len(codes) == 0:
        return codes
    if len(codes) < SHINGLE:
        codes = np.concatenate([codes, np.zeros(SHINGLE - len(codes), dtype=np.uint64)])
    n = len(codes) - SHINGLE + 1
    # Polynomial combination in wrapping uint64 arithmetic: order-sensitive, cheap.
    h = codes[:n].copy()
    with np.errstate(over="ignore"):
        for j in range(1, SHINGLE):
            h = h * _POLY + codes[j : j + n]
        h ^= h >> np.uint64(31)
    return np.unique(h)


def _minhash(hashes: np.ndarray) -> np.ndarray:
    if len(hashes) == 0:
        return _EMPTY.copy()
    sig = _EMPTY.copy()
    with np.errstate(over="ignore"):
        for start in range(0, len(hashes), _CHUNK):
            chunk = hashes[start : start + _CHUNK, None]
            sig = np.minimum(sig, ((chunk * _A + _B) >> np.uint64(32)).min(axis=0))
    return sig


def signature(paragraphs: Iterable[str]) -> np.ndarray:
    """MinHash signature (``NUM_PERM`` uint64 values) of a document body."""
    return fingerprint(paragraphs)[0]


def fingerprint(paragraphs: Iterable[str]) -> tuple[np.ndarray, int]:
    """The MinHash signature and the number of distinct shingles it was made from."""
    hashes = shingle_hashes("\n".join(paragraphs))
    return _minhash(hashes), len(hashes)


def signature_to_bytes(sig: np.ndarray) -> bytes:
    return sig.astype("<u8").tobytes()


def signature_from_bytes(data: bytes) -> np.ndarray:
    return np.frombuffer(data, dtype="<u8").astype(np.uint64)


def band_keys(sig: np.ndarray) -> list[int]:
    """One signed 63-bit key per band (fits an SQLite INTEGER)."""
    data = sig.astype("<u8").tobytes()
    width = ROWS * 8
    keys = []
    for b in range(BANDS):
        chunk = data[b * width : (b + 1) * width]
        # Masked to 63 bits, the value reads the same as a signed 64-bit integer.
        keys.append((zlib.crc32(chunk, b) | (zlib.adler32(chunk, b) << 32)) & _MASK63)
    return keys


def similarity(a: np.ndarray, b: np.ndarray) -> float:
    """Estimated Jaccard similarity of two signatures."""
    if len(a) != len(b):
        return 0.0
    return float(np.count_nonzero(a == b)) / float(len(a))


def close_in_time(a: int | None, b: int | None, window: int | None = STORY_WINDOW) -> bool:
    """True unless both publish times are known and further apart than ``window``."""
    return window is None or a is None or b is None or abs(a - b) <= window


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
