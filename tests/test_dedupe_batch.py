"""Fingerprints made many at a time are the ones the straightforward code made.

The oracle below is the per-document MinHash as it was written first (regex units,
``np.unique``, ``NUM_PERM`` multiply-shift hashes shifted before the minimum); the
batched, table-normalized path must give the same signatures, shingle counts and
band keys, on real mixed Chinese and English articles and on awkward Unicode.
"""

from __future__ import annotations

import gzip
import json
import sys
import unicodedata

import numpy as np
import pytest

from conftest import SHARED_DATA
from newsdesk import dedupe


def _reference_fold(text: str) -> str:
    return str(dedupe._to_simplified(unicodedata.normalize("NFKC", text).lower()))


def _reference_codes(text: str) -> list[int]:
    out = []
    for unit in dedupe._UNIT.findall(_reference_fold(text)):
        if len(unit) == 1 and not unit.isascii():
            out.append(ord(unit))
            continue
        h = 0
        for i, ch in enumerate(unit):
            weight = pow(dedupe._WORD_BASE, min(i, dedupe._MAX_WORD - 1), 2**64)
            h = (h + (ord(ch) + 1) * weight) % 2**64
        out.append((h & 0xFFFF_FFFF_FFFF) | (1 << 48))
    return out


def _reference_fingerprint(paragraphs: list[str]) -> tuple[np.ndarray, int]:
    codes = np.array(_reference_codes("\n".join(paragraphs)), dtype=np.uint64)
    if len(codes) == 0:
        return np.full(dedupe.NUM_PERM, np.iinfo(np.uint64).max, dtype=np.uint64), 0
    if len(codes) < dedupe.SHINGLE:
        codes = np.concatenate([codes, np.zeros(dedupe.SHINGLE - len(codes), dtype=np.uint64)])
    n = len(codes) - dedupe.SHINGLE + 1
    h = codes[:n].copy()
    with np.errstate(over="ignore"):
        for j in range(1, dedupe.SHINGLE):
            h = h * dedupe._POLY + codes[j : j + n]
        h ^= h >> np.uint64(31)
    hashes = np.unique(h)
    sig = np.full(dedupe.NUM_PERM, np.iinfo(np.uint64).max, dtype=np.uint64)
    with np.errstate(over="ignore"):
        for start in range(0, len(hashes), 1000):
            chunk = hashes[start : start + 1000, None]
            sig = np.minimum(sig, ((chunk * dedupe._A + dedupe._B) >> np.uint64(32)).min(axis=0))
    return sig, len(hashes)


AWKWARD = [
    [],
    [""],
    ["a"],
    ["ab c"],
    ["，。！"],
    ["中華人民共和國 ＡＢＣ１２３ 全角　空格"],
    ["Café ΣΑΣ straße ﬁ é İstanbul"],
    ["e\u0301 combining after a simple letter", "ｅ\u0301 and after a full-width one"],
    ["한국어 텍스트 뉴스", "\u1100\u1161\u11a8 jamo"],
    ["𠀀𠀁 emoji 😀 text here and more"],
    ["x" * 100 + " 长词之后", "y" * 70],
    ["…… ①② ㈱ ℃ ½ ﹐﹒ 〇〇"],
    ["Nvidia的H20芯片 sales rose 12% in Q3；英伟达表示 ok2go a-b 中文"],
]


def _assert_same(bodies: list[list[str]]) -> None:
    got = dedupe.fingerprints(bodies)
    assert len(got) == len(bodies)
    for body, (sig, n) in zip(bodies, got, strict=True):
        ref_sig, ref_n = _reference_fingerprint(body)
        assert n == ref_n, body
        assert sig.tolist() == ref_sig.tolist(), body
        assert dedupe.band_keys(sig) == dedupe.band_keys(ref_sig)
        one_sig, one_n = dedupe.fingerprint(body)
        assert (one_n, one_sig.tolist()) == (n, sig.tolist())


def test_awkward_texts_give_the_reference_fingerprints() -> None:
    _assert_same(AWKWARD)
    # Alone and beside each other: no unit or shingle crosses two documents.
    for body in AWKWARD:
        _assert_same([body])
    _assert_same([["ab"], ["cd"], ["ef gh"], ["中文"], ["文字"]])


def test_fold_many_is_fold() -> None:
    texts = ["\n".join(b) for b in AWKWARD] + ["ΣΑΣ", "ΑΣ b", "Ｓ\u0307", "ﾀﾞ ｶﾞ", "\u0301"]
    assert dedupe.fold_many(texts) == [_reference_fold(t) for t in texts]


def test_tabled_code_points_normalize_alone_whatever_surrounds_them() -> None:
    """A tabled code point is never the second half of a canonical composition, has no
    combining class and decomposes to one tabled code point: so a text made only of
    them is normalized one code point at a time."""
    simple, target = dedupe._simple_nfkc()
    tails = {0x1161 + i for i in range(21)} | {0x11A8 + i for i in range(27)}
    for cp in range(sys.maxunicode + 1):
        parts = unicodedata.decomposition(chr(cp)).split()
        if len(parts) == 2 and not parts[0].startswith("<"):
            tails.add(int(parts[1], 16))
    tabled = np.flatnonzero(simple[: dedupe._SIMPLE_LIMIT])
    assert len(tabled) > 20000
    for cp in tabled.tolist():
        ch = chr(cp)
        assert cp not in tails
        assert unicodedata.combining(ch) == 0
        assert unicodedata.normalize("NFKC", ch) == chr(int(target[cp]))
        assert simple[target[cp]]
    assert not simple[dedupe._SIMPLE_LIMIT]


@pytest.mark.shared_data
def test_real_mixed_articles_give_the_reference_fingerprints() -> None:
    path = SHARED_DATA / "fin_rss_multisource" / "articles.jsonl.gz"
    if not path.exists():
        pytest.skip(f"shared evaluation data not found at {path}")
    bodies: list[list[str]] = []
    langs: set[str] = set()
    with gzip.open(path, "rt", encoding="utf-8") as fh:
        for i, line in enumerate(fh):
            if i % 3:
                continue
            row = json.loads(line)
            bodies.append([row.get("title") or "", *row["paragraphs"]])
            langs.add(row.get("lang", ""))
            if len(bodies) >= 600:
                break
    assert {"zh", "en"} <= langs
    for start in range(0, len(bodies), 256):
        _assert_same(bodies[start : start + 256])
