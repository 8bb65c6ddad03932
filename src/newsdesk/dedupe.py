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
_B_COLUMN = _B[:, None]
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


# Code points whose NFKC form is one known code point whatever surrounds them: no
# canonical combining class, not the second half of any canonical composition, and a
# one-character compatibility decomposition (most often none, or a full-width form's
# ASCII letter). Checked over every code point by a test. Only the ranges news text is
# made of are tabled; a text with any other code point is normalized by unicodedata.
_SIMPLE_RANGES = (
    (0x0009, 0x000D),
    (0x0020, 0x007E),
    (0x00A0, 0x00FF),
    (0x2000, 0x206F),
    (0x3000, 0x303F),
    (0xFF01, 0xFF5E),
)
_IDEOGRAPHS = ((0x3400, 0x4DBF), (0x4E00, 0x9FFF))
_SIMPLE_LIMIT = 0x10000
_nfkc_table: tuple[np.ndarray, np.ndarray] | None = None


def _simple_nfkc() -> tuple[np.ndarray, np.ndarray]:
    """(is simple, NFKC code point) per BMP code point, built on first use."""
    global _nfkc_table
    if _nfkc_table is None:
        simple = np.zeros(_SIMPLE_LIMIT + 1, dtype=bool)
        target = np.arange(_SIMPLE_LIMIT + 1, dtype=np.uint32)
        # Unified ideographs have no decomposition and no combining class (the test
        # checks every tabled code point): tabled as they are, without a lookup each.
        for lo, hi in _IDEOGRAPHS:
            simple[lo : hi + 1] = True
        for lo, hi in _SIMPLE_RANGES:
            for cp in range(lo, hi + 1):
                ch = chr(cp)
                norm = unicodedata.normalize("NFKD", ch)
                if len(norm) != 1 or unicodedata.combining(ch) or unicodedata.combining(norm):
                    continue
                if unicodedata.normalize("NFKD", norm) != norm:
                    continue
                simple[cp] = True
                target[cp] = ord(norm)
        # Every tabled target must itself be simple (its NFKC form is itself).
        simple &= simple[target]
        _nfkc_table = simple, target
    return _nfkc_table


def fold_many(texts: Sequence[str]) -> list[str]:
    """:func:`fold` of each text (the same strings), with the Unicode normalization
    done by table lookup for texts made only of simple code points."""
    if not texts:
        return []
    simple, target = _simple_nfkc()
    joined = "".join(texts)
    cp = np.frombuffer(joined.encode("utf-32-le"), dtype=np.uint32)
    idx = np.minimum(cp, np.uint32(_SIMPLE_LIMIT))
    ok = simple[idx]
    mapped = target[idx].tobytes().decode("utf-32-le")
    ends = np.cumsum([len(t) for t in texts])
    bad = np.cumsum(~ok)
    out: list[str] = []
    start = 0
    before = 0
    for text, end in zip(texts, ends.tolist(), strict=True):
        after = int(bad[end - 1]) if end else 0
        if end == start:
            norm = text
        elif after == before:
            norm = mapped[start:end]
        else:
            norm = unicodedata.normalize("NFKC", text)
        out.append(str(_to_simplified(norm.lower())) if norm else "")
        start, before = end, after
    return out


def _unit_codes(text: str) -> np.ndarray:
    """One code per unit in reading order: a CJK character's code point, or a hash
    (above 2**32) of a run of ASCII letters and digits. Vectorised over code points;
    the same units as ``_UNIT.findall`` (checked by a test)."""
    return _codes_at(fold(text))[1]


def _codes_at(folded: str) -> tuple[np.ndarray, np.ndarray]:
    """(position, code) of each unit of an already folded text, in reading order."""
    cp = np.frombuffer(folded.encode("utf-32-le"), dtype=np.uint32).astype(np.uint64)
    if len(cp) == 0:
        return np.zeros(0, dtype=np.intp), cp
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
        order = np.argsort(positions, kind="stable")
        positions, codes = positions[order], codes[order]
    return positions, codes


def shingle_hashes(text: str) -> np.ndarray:
    """The distinct 64-bit hashes of the text's 4-unit shingles (sorted)."""
    return _shingles_of_codes(_unit_codes(text))


def _shingles_of_codes(codes: np.ndarray) -> np.ndarray:
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
    return _distinct(h)


def _minhash(hashes: np.ndarray) -> np.ndarray:
    if len(hashes) == 0:
        return _EMPTY.copy()
    lowest = _EMPTY.copy()
    with np.errstate(over="ignore"):
        for start in range(0, len(hashes), _CHUNK):
            # One row per hash function: each minimum is over contiguous memory.
            values = np.multiply.outer(_A, hashes[start : start + _CHUNK])
            values += _B_COLUMN
            np.minimum(lowest, values.min(axis=1), out=lowest)
    # The shift keeps order, so the minimum's upper half is the upper halves' minimum.
    return lowest >> np.uint64(32)


def _distinct(values: np.ndarray) -> np.ndarray:
    """``np.unique(values)`` (sorted), by a sort: faster on a document's shingles."""
    ordered = np.sort(values)
    keep = np.empty(len(ordered), dtype=bool)
    keep[:1] = True
    np.not_equal(ordered[1:], ordered[:-1], out=keep[1:])
    return ordered[keep]


def signature(paragraphs: Iterable[str]) -> np.ndarray:
    """MinHash signature (``NUM_PERM`` uint64 values) of a document body."""
    return fingerprint(paragraphs)[0]


def fingerprint(paragraphs: Iterable[str]) -> tuple[np.ndarray, int]:
    """The MinHash signature and the number of distinct shingles it was made from."""
    return fingerprints([list(paragraphs)])[0]


def fingerprints(bodies: Sequence[Sequence[str]]) -> list[tuple[np.ndarray, int]]:
    """:func:`fingerprint` of many documents (each a list of paragraphs) at once.

    The same signatures and counts, vectorised across the documents: the numpy work is
    done once for all of them instead of once per document.
    """
    folded = fold_many(["\n".join(p) for p in bodies])
    if not folded:
        return []
    # Documents apart by a newline, which is no unit: no run of letters crosses two.
    joined = "\n".join(folded)
    starts = np.cumsum([0] + [len(f) + 1 for f in folded[:-1]])
    positions, codes = _codes_at(joined)
    doc_of = np.searchsorted(starts, positions, side="right") - 1
    counts = np.bincount(doc_of, minlength=len(folded))
    bounds = np.concatenate(([0], np.cumsum(counts)))
    n = len(codes) - SHINGLE + 1
    if n > 0:
        h = codes[:n].copy()
        with np.errstate(over="ignore"):
            for j in range(1, SHINGLE):
                h = h * _POLY + codes[j : j + n]
            h ^= h >> np.uint64(31)
    out: list[tuple[np.ndarray, int]] = []
    for lo, hi in zip(bounds[:-1].tolist(), bounds[1:].tolist(), strict=True):
        if hi - lo < SHINGLE:
            hashes = _shingles_of_codes(codes[lo:hi])
        else:
            # Windows that start in this document and end in it.
            hashes = _distinct(h[lo : hi - SHINGLE + 1])
        out.append((_minhash(hashes), len(hashes)))
    return out


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
