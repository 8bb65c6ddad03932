"""A labelled set for the number verifier, built from real sentences, and its score.

Every case pairs a would-be bullet with the paragraph it cites:

- ``verbatim``: a real sentence against its own paragraph (supported);
- ``converted``: the sentence with one figure rewritten in another language or
  unit (``13亿`` -> ``1.3 billion``, ``80%`` -> ``百分之八十``; supported);
- ``translated``: a human English translation against the Chinese sentence
  (WMT21; supported);
- ``altered`` / ``altered+converted``: one figure changed in value (a digit, or
  the scale), then possibly rewritten (unsupported).

Figures are found and changed with simple patterns of their own (digit runs,
``万/亿``, ``%``, English scales) and Chinese numerals are written by ``cn2an``,
so the set does not inherit the verifier's own number reader.
"""

from __future__ import annotations

import random
import re
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from itertools import islice
from pathlib import Path
from typing import Any

import cn2an

from newsdesk.evaluation import data as ds
from newsdesk.models import Document
from newsdesk.summarize.verify import unsupported
from newsdesk.text import split_sentences


@dataclass(frozen=True, slots=True)
class NumberCase:
    id: str
    group: str  # "zh", "en" or "zh->en"
    variant: str
    bullet: str
    evidence: str
    supported: bool


_DIGITS = re.compile(r"(?<![\d.,])\d{1,3}(?:,\d{3})+(?:\.\d+)?|(?<![\d.,])\d+(?:\.\d+)?")
_ZH_SCALED = re.compile(r"(?<![\d.,])(\d+(?:\.\d+)?)(万亿|亿|万)")
_EN_SCALED = re.compile(r"(\d+(?:\.\d+)?)\s?(trillion|billion|million)\b")
_PERCENT = re.compile(r"(\d+(?:\.\d+)?)\s?(%|％|percent\b)")
_GROUPED = re.compile(r"(?<![\d.])(\d{1,3}(?:,\d{3})+)(?![\d.])")
_PLAIN_INT = re.compile(r"(?<![A-Za-z0-9.,:-])(\d{2,6})(?![A-Za-z0-9.,%:-])")
_ZH_NUMERAL = re.compile(r"[一二两三四五六七八九十][一二两三四五六七八九十百千万亿零]+")
_ZH_UNITS = {"万亿": Decimal(10) ** 12, "亿": Decimal(10) ** 8, "万": Decimal(10) ** 4}
_EN_UNITS = {
    "trillion": Decimal(10) ** 12,
    "billion": Decimal(10) ** 9,
    "million": Decimal(10) ** 6,
}


def _plain(d: Decimal) -> str:
    text = format(d.normalize(), "f")
    return text.rstrip("0").rstrip(".") if "." in text else text


def english_amount(value: Decimal) -> str:
    """``1300000000`` -> ``1.3 billion``; below a million, digits with commas."""
    for name, unit in _EN_UNITS.items():
        if value >= unit:
            return f"{_plain(value / unit)} {name}"
    return f"{int(value):,}" if value == value.to_integral_value() else _plain(value)


def chinese_amount(value: Decimal) -> str:
    """``1300000000`` -> ``13亿``; ``50000`` -> ``5万``."""
    for name, unit in _ZH_UNITS.items():
        if value >= unit:
            return f"{_plain(value / unit)}{name}"
    return _plain(value)


def _convert_zh(sentence: str, rng: random.Random) -> str | None:
    """Rewrite one figure of a Chinese sentence in English or Chinese-numeral form."""
    options: list[tuple[re.Match[str], str]] = []
    if m := _ZH_SCALED.search(sentence):
        value = Decimal(m.group(1)) * _ZH_UNITS[m.group(2)]
        options.append((m, english_amount(value)))
    if p := _PERCENT.search(sentence):
        options.append((p, f"{p.group(1)} percent"))
        options.append((p, "百分之" + cn2an.an2cn(p.group(1), "low")))
    if i := _PLAIN_INT.search(sentence):
        year = sentence[i.end() : i.end() + 1] == "年" and len(i.group(1)) == 4
        options.append((i, cn2an.an2cn(i.group(1), "direct" if year else "low")))
    if z := _ZH_NUMERAL.search(sentence):
        try:
            arabic = Decimal(str(cn2an.cn2an(z.group(0), "normal")))
        except ValueError:
            arabic = Decimal(-1)
        if arabic > 0:
            options.append((z, english_amount(arabic)))
    return _apply(sentence, options, rng)


def _convert_en(sentence: str, rng: random.Random) -> str | None:
    """Rewrite one figure of an English sentence in Chinese form."""
    options: list[tuple[re.Match[str], str]] = []
    if m := _EN_SCALED.search(sentence):
        value = Decimal(m.group(1)) * _EN_UNITS[m.group(2)]
        options.append((m, chinese_amount(value)))
    if p := _PERCENT.search(sentence):
        n = p.group(1)
        options.append((p, "百分之" + cn2an.an2cn(n, "low")))
        options.append((p, f"{n} percent" if p.group(2) != "percent" else f"{n}%"))
    if g := _GROUPED.search(sentence):
        grouped = Decimal(g.group(1).replace(",", ""))
        if grouped >= 10_000:
            options.append((g, chinese_amount(grouped)))
    return _apply(sentence, options, rng)


def _apply(
    sentence: str, options: list[tuple[re.Match[str], str]], rng: random.Random
) -> str | None:
    if not options:
        return None
    m, new = rng.choice(options)
    return _splice(sentence, m, new)


def _splice(text: str, m: re.Match[str], new: str) -> str:
    return text[: m.start()] + new + text[m.end() :]


def _alter_digit(number: str, rng: random.Random) -> str:
    positions = [i for i, c in enumerate(number) if c.isdigit()]
    pos = rng.choice(positions)
    old = number[pos]
    choices = [d for d in "0123456789" if d != old and not (d == "0" and pos == 0)]
    return number[:pos] + rng.choice(choices) + number[pos + 1 :]


_SWAP = {"万": "亿", "亿": "万", "万亿": "亿", "million": "billion", "billion": "million"}


def _alter(sentence: str, rng: random.Random) -> tuple[str, str] | None:
    """Change one figure's value: a digit, or its scale. Returns (text, how)."""
    runs = list(_DIGITS.finditer(sentence))
    if not runs:
        return None
    m = rng.choice(runs)
    after = sentence[m.end() :]
    unit = re.match(r"\s?(万亿|亿|万|million|billion)", after)
    if unit and rng.random() < 0.5:
        start = m.end() + unit.start(1)
        end = m.end() + unit.end(1)
        return sentence[:start] + _SWAP[unit.group(1)] + sentence[end:], "scale"
    if rng.random() < 0.25 and "." not in m.group(0) and "," not in m.group(0):
        return _splice(sentence, m, m.group(0) + "0"), "x10"
    return _splice(sentence, m, _alter_digit(m.group(0), rng)), "digit"


def _candidates(docs: Iterable[Document], limit: int) -> Iterator[tuple[str, str]]:
    """(sentence, paragraph) pairs whose sentence holds a figure, at most 3 per document."""
    seen = 0
    for doc in docs:
        taken = 0
        for p in doc.paragraphs:
            for s in split_sentences(p.text):
                if taken < 3 and 8 <= len(s) <= 300 and _DIGITS.search(s):
                    yield s, p.text
                    taken += 1
                    seen += 1
                    if seen >= limit:
                        return


def _cases_from(
    group: str,
    pairs: list[tuple[str, str]],
    convert: Callable[[str, random.Random], str | None],
    rng: random.Random,
) -> Iterator[NumberCase]:
    for k, (sentence, paragraph) in enumerate(pairs):
        cid = f"{group}-{k}"
        yield NumberCase(cid, group, "verbatim", sentence, paragraph, True)
        converted = convert(sentence, rng)
        if converted and converted != sentence:
            yield NumberCase(cid, group, "converted", converted, paragraph, True)
        altered = _alter(sentence, rng)
        if altered:
            text, how = altered
            yield NumberCase(cid, group, f"altered:{how}", text, paragraph, False)
            again = convert(text, rng) if rng.random() < 0.5 else None
            if again and again != text:
                yield NumberCase(cid, group, "altered+converted", again, paragraph, False)


def build_cases(data: Path, per_group: int = 400, seed: int = 5) -> list[NumberCase]:
    """The labelled set: ``per_group`` source sentences each for zh, en and zh->en."""
    rng = random.Random(seed)
    zh_docs = _interleave(
        ds.cctv_documents(data),
        ds.finqa_documents(data),
        (d for d in ds.rss_documents(data, 1) if d.lang == "zh"),
    )
    zh = list(_candidates(zh_docs, per_group))
    en = list(_candidates((d for d in ds.rss_documents(data, 1) if d.lang == "en"), per_group))
    cases = [*_cases_from("zh", zh, _convert_zh, rng), *_cases_from("en", en, _convert_en, rng)]
    translated = [p for p in ds.wmt_pairs(data) if _DIGITS.search(p.en) and _DIGITS.search(p.zh)][
        :per_group
    ]
    for k, pair in enumerate(translated):
        cid = f"zh->en-{k}"
        cases.append(NumberCase(cid, "zh->en", "translated", pair.en, pair.zh, True))
        altered = _alter(pair.en, rng)
        if altered:
            cases.append(
                NumberCase(cid, "zh->en", f"altered:{altered[1]}", altered[0], pair.zh, False)
            )
    return cases


def _interleave(*iterators: Iterator[Document]) -> Iterator[Document]:
    live = list(iterators)
    while live:
        for it in list(live):
            batch = list(islice(it, 1))
            if batch:
                yield batch[0]
            else:
                live.remove(it)


@dataclass
class Confusion:
    tp: int = 0  # unsupported and flagged
    fp: int = 0  # supported but flagged
    fn: int = 0  # unsupported but passed
    tn: int = 0

    def add(self, supported: bool, flagged: bool) -> None:
        if flagged and not supported:
            self.tp += 1
        elif flagged:
            self.fp += 1
        elif not supported:
            self.fn += 1
        else:
            self.tn += 1

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 1.0

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 1.0

    def to_json(self) -> dict[str, Any]:
        return {
            "cases": self.tp + self.fp + self.fn + self.tn,
            "tp": self.tp,
            "fp": self.fp,
            "fn": self.fn,
            "tn": self.tn,
            "precision": round(self.precision, 4),
            "recall": round(self.recall, 4),
        }


@dataclass
class NumberReport:
    overall: Confusion = field(default_factory=Confusion)
    by_group: dict[str, Confusion] = field(default_factory=dict)
    flag_rate: dict[str, tuple[int, int]] = field(default_factory=dict)
    errors: list[dict[str, Any]] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "overall": self.overall.to_json(),
            "by_group": {k: v.to_json() for k, v in sorted(self.by_group.items())},
            "flagged_by_variant": {
                k: {"flagged": f, "cases": n, "rate": round(f / n, 4)}
                for k, (f, n) in sorted(self.flag_rate.items())
            },
            "errors": self.errors,
        }


def score(cases: Iterable[NumberCase], keep_errors: int = 20) -> NumberReport:
    """Flag every case whose bullet has a number missing from its evidence; count."""
    report = NumberReport()
    variants: Counter[str] = Counter()
    flagged_variants: Counter[str] = Counter()
    for case in cases:
        missing = unsupported(case.bullet, case.evidence)
        flagged = bool(missing)
        report.overall.add(case.supported, flagged)
        report.by_group.setdefault(case.group, Confusion()).add(case.supported, flagged)
        variants[case.variant] += 1
        flagged_variants[case.variant] += flagged
        if flagged == case.supported and len(report.errors) < keep_errors:
            report.errors.append(
                {
                    "id": case.id,
                    "variant": case.variant,
                    "bullet": case.bullet,
                    "evidence": case.evidence[:300],
                    "missing": [q.raw for q in missing],
                }
            )
    report.flag_rate = {v: (flagged_variants[v], n) for v, n in variants.items()}
    return report
