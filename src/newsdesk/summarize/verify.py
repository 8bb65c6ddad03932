"""Pure checks applied to every summary, whichever summarizer made it.

A bullet survives only if it cites at least one paragraph, every cited paragraph
exists, and every number in it is found in the paragraphs it cites. Numbers are
compared by value, across languages and units, so ``13亿欧元`` matches
``€1.3 billion``, ``5万片`` matches ``50,000 wafers``, ``80%`` matches
``80 percent`` and ``百分之八十``, and ``三十亿`` matches ``3 billion``.

Matching is exact by value: a bullet may change how a figure is written but not
round it, so ``€12 billion`` is not found in a paragraph that says ``117亿欧元``.
A percentage in a bullet must be a percentage (or percentage points, basis points)
in the paragraph; other numbers may match any quantity of the same value.
"""

from __future__ import annotations

import functools
import itertools
import re
import unicodedata
from dataclasses import dataclass, replace
from typing import Literal

from newsdesk.models import Bullet, Document, DroppedBullet, Section, Summary, Verification
from newsdesk.text import cjk_ratio

Kind = Literal["number", "percent"]

_ZH_SCALES = {
    "万亿": 1e12,
    "千亿": 1e11,
    "百亿": 1e10,
    "十亿": 1e9,
    "亿": 1e8,
    "千万": 1e7,
    "百万": 1e6,
    "万": 1e4,
    "千": 1e3,
}
_EN_SCALES = {
    "trillion": 1e12,
    "tn": 1e12,
    "billion": 1e9,
    "bn": 1e9,
    "million": 1e6,
    "mn": 1e6,
    "thousand": 1e3,
}
# One-letter scales ("$5m", "€2bn") only after a currency sign: "5m" alone is
# as likely to be five metres.
_CURRENCY_SCALES = {"b": 1e9, "m": 1e6, "k": 1e3}
_PERCENT_UNITS = {
    "%": 1.0,
    "percent": 1.0,
    "per cent": 1.0,
    "pct": 1.0,
    "percentage point": 1.0,
    "percentage points": 1.0,
    "个百分点": 1.0,
    "百分点": 1.0,
    "ppt": 1.0,
    "pp": 1.0,
    # A basis point is a hundredth of a percentage point.
    "个基点": 0.01,
    "基点": 0.01,
    "个基本点": 0.01,
    "基本点": 0.01,
    "basis point": 0.01,
    "basis points": 0.01,
    "bp": 0.01,
    "bps": 0.01,
}

# Word ends are spelled out as lookarounds: CJK characters count as word characters
# for \b, so "million股" would otherwise not end the word "million".
_END = r"(?![A-Za-z])"
_ARABIC = re.compile(
    r"(?:(?<![A-Za-z0-9.])|(?<=\b[QH])|(?<=\bFY))(?<![A-Za-z]-)(\d{1,3}(?:,\d{3})+|\d+)(?:\.(\d+))?"
    r"(?:\s?(万亿|千亿|百亿|十亿|亿|千万|百万|万|千)"
    rf"|\s?(trillion|billion|million|thousand){_END}|\s?(tn|bn|mn){_END}|([bmk]){_END})?"
    rf"(\s?(?:%|percent{_END}|per cent{_END}|pct{_END}|percentage points?{_END}|个?百分点"
    rf"|ppt{_END}|pp{_END}|个?基本?点|basis points?{_END}|bps?{_END}))?",
    re.IGNORECASE,
)
_CURRENCY_BEFORE = re.compile(r"(?:[$€£¥]|US\$|HK\$|RMB|EUR|USD)\s?$", re.IGNORECASE)
_RANGE_JOIN = re.compile(r"^\s?(?:-|–|—|~|～|至|到|to)\s?$")

_ZH_DIGITS = "零〇一二两三四五六七八九"
_ZH_NUMERAL = re.compile(
    rf"百分之([{_ZH_DIGITS}十百千点]+|\d+(?:\.\d+)?)"
    rf"|([{_ZH_DIGITS}十百千万亿]+(?:点[{_ZH_DIGITS}]+)?)"
)
# A lone Chinese numeral is a quantity only before a counter or unit ("三家", "五年");
# otherwise it is usually part of a word (两岸, 三农, 一些, 十分).
_ZH_COUNTERS = frozenset(
    "个家名位项次年月日天周倍元人条只座台辆件款种份股架艘所起例岁季批轮期号处部组套场届类国余多"
)
_ZH_TENTHS = re.compile(
    r"(?<![一二两三四五六七八九十])([一二两三四五六七八九])成(?![立为本果功交员长])"
)
# Evidence only: any digit run (also "IP15", "6成"), and "点半" for half past.
_ANY_DIGITS = re.compile(r"\d+(?:\.\d+)?")
_ARABIC_TENTHS = re.compile(r"(\d)成")
_HALF_HOUR = re.compile(r"[点时]半")

_EN_WORDS = {
    "one": 1,
    "two": 2,
    "three": 3,
    "four": 4,
    "five": 5,
    "six": 6,
    "seven": 7,
    "eight": 8,
    "nine": 9,
    "ten": 10,
    "eleven": 11,
    "twelve": 12,
    "fifteen": 15,
    "twenty": 20,
    "thirty": 30,
    "forty": 40,
    "fifty": 50,
    "hundred": 100,
}
_EN_WORD = re.compile(
    r"(?<![A-Za-z])(" + "|".join(_EN_WORDS) + r")"
    r"(?:[\s-](hundred|thousand|million|billion|trillion))?(?![A-Za-z])",
    re.IGNORECASE,
)
_MONTHS = {
    name: i
    for i, names in enumerate(
        (
            ("january", "jan"),
            ("february", "feb"),
            ("march", "mar"),
            ("april", "apr"),
            ("may",),
            ("june", "jun"),
            ("july", "jul"),
            ("august", "aug"),
            ("september", "sept", "sep"),
            ("october", "oct"),
            ("november", "nov"),
            ("december", "dec"),
        ),
        start=1,
    )
    for name in names
}
_MONTH = re.compile(r"(?<![A-Za-z])(" + "|".join(_MONTHS) + r")(?![A-Za-z])", re.IGNORECASE)
_HALF = re.compile(r"(?<![A-Za-z])half(?![A-Za-z])|一半", re.IGNORECASE)
_ORDINALS = {
    "first": 1,
    "second": 2,
    "third": 3,
    "fourth": 4,
    "fifth": 5,
    "sixth": 6,
    "seventh": 7,
    "eighth": 8,
    "ninth": 9,
    "tenth": 10,
    "twice": 2,
    "double": 2,
    "triple": 3,
    "dozen": 12,
    "both": 2,
    "pair": 2,
}
_ORDINAL = re.compile(r"(?<![A-Za-z])(" + "|".join(_ORDINALS) + r")(?![A-Za-z])", re.IGNORECASE)
_ORDINAL_SUFFIX = re.compile(r"(\d+)(?:st|nd|rd|th)\b")


@dataclass(frozen=True, slots=True)
class Quantity:
    """A number found in text: what was written, its value and whether it is a percentage."""

    raw: str
    value: float
    kind: Kind = "number"


@dataclass
class _Match:
    start: int
    end: int
    mantissa: float
    scale: float
    percent: float  # 0 when not a percentage, else the factor to percent (1 or 0.01)
    raw: str
    bare: bool = False  # a range start that took its unit from the range end

    def quantity(self) -> Quantity:
        if self.percent:
            return Quantity(self.raw, self.mantissa * self.percent, "percent")
        return Quantity(self.raw, self.mantissa * self.scale, "number")


def _fold(text: str) -> str:
    # NFKC turns full-width digits and signs (１３％) into ASCII ones.
    return unicodedata.normalize("NFKC", text)


def _arabic(text: str) -> list[_Match]:
    found: list[_Match] = []
    for m in _ARABIC.finditer(text):
        whole, frac, zh, en, abbr, letter, pct = m.groups()
        mantissa = float(whole.replace(",", "") + (f".{frac}" if frac else ""))
        if mantissa == 0 and text[m.start() - 1 : m.start()] == ":":
            continue  # the ":00" of "16:00" is written "16时" in Chinese
        scale = 1.0
        end = m.end()
        if zh:
            scale = _ZH_SCALES[zh]
        elif en:
            scale = _EN_SCALES[en.lower()]
        elif abbr:
            scale = _EN_SCALES[abbr.lower()]
        elif letter:
            if _CURRENCY_BEFORE.search(text[: m.start()]):
                scale = _CURRENCY_SCALES[letter.lower()]
            else:
                end = m.start(6)
        percent = _PERCENT_UNITS[pct.strip().lower()] if pct else 0.0
        if letter and scale == 1.0:
            percent = 0.0
        found.append(_Match(m.start(), end, mantissa, scale, percent, text[m.start() : end]))
    # A range shares its unit: "3-5亿元" is 3亿 to 5亿, "3 to 5 percent" 3% to 5%.
    for left, right in itertools.pairwise(found):
        if (
            left.scale == 1.0
            and not left.percent
            and _RANGE_JOIN.match(text[left.end : right.start])
        ):
            left.scale, left.percent = right.scale, right.percent
            left.bare = True
    return found


def _cn_value(numeral: str) -> float | None:
    # cn2an compiles hundreds of regular expressions at import (~0.1 s of CPU), which a
    # search that shows summaries never needs: imported on the first Chinese numeral.
    import cn2an

    try:
        return float(cn2an.cn2an(numeral, "normal"))
    except (ValueError, KeyError, IndexError, TypeError):
        return None


def _chinese(text: str) -> list[_Match]:
    found: list[_Match] = []
    for m in _ZH_NUMERAL.finditer(text):
        percent_part, numeral = m.groups()
        if percent_part is not None:
            value = float(percent_part) if percent_part[0].isdigit() else _cn_value(percent_part)
            if value is not None:
                found.append(_Match(m.start(), m.end(), value, 1.0, 1.0, m.group(0)))
            continue
        if numeral[0] in "十百千" and (len(numeral) > 1 or numeral == "十"):
            # "十五", "百万": the leading one is implied.
            numeral = "一" + numeral if numeral[0] != "十" else numeral
        elif not any(c in _ZH_DIGITS for c in numeral):
            continue
        after = text[m.end() : m.end() + 1]
        if len(numeral) == 1 and after not in _ZH_COUNTERS:
            continue
        if numeral == "一":
            continue  # rarely a figure worth checking (一家, 一年来, 一系列)
        value = _cn_value(numeral)
        if value is None:
            continue
        end = m.end()
        percent = 0.0
        for unit in ("个百分点", "百分点", "个基点", "基点", "%"):
            if text.startswith(unit, end):
                percent = _PERCENT_UNITS[unit]
                end += len(unit)
                break
        found.append(_Match(m.start(), end, value, 1.0, percent, text[m.start() : end]))
    for m in _ZH_TENTHS.finditer(text):
        value = _cn_value(m.group(1))
        if value is not None:
            found.append(_Match(m.start(), m.end(), value * 10, 1.0, 1.0, m.group(0)))
    return found


def _english_words(text: str) -> list[_Match]:
    found: list[_Match] = []
    for m in _EN_WORD.finditer(text):
        word, scale_word = m.group(1).lower(), (m.group(2) or "").lower()
        if word == "one" and not scale_word:
            continue  # "one of the", "one-off": an idiom far more often than a count
        scale = 100.0 if scale_word == "hundred" else _EN_SCALES.get(scale_word, 1.0)
        found.append(_Match(m.start(), m.end(), float(_EN_WORDS[word]), scale, 0.0, m.group(0)))
    return found


def _mask(text: str, matches: list[_Match]) -> str:
    chars = list(text)
    for m in matches:
        chars[m.start : m.end] = "\x00" * (m.end - m.start)
    return "".join(chars)


def _matches(folded: str) -> list[_Match]:
    arabic = _arabic(folded)
    rest = _mask(folded, arabic)
    chinese = _chinese(rest)
    words = _english_words(_mask(rest, chinese))
    return sorted(arabic + chinese + words, key=lambda m: m.start)


def quantities(text: str) -> list[Quantity]:
    """Every number in ``text`` (Arabic, Chinese or English words), in reading order."""
    return [m.quantity() for m in _matches(_fold(text))]


def numbers_in(text: str) -> list[tuple[str, set[float]]]:
    """Each number in ``text`` with its value (kept for callers that want plain sets)."""
    return [(q.raw, {q.value}) for q in quantities(text)]


@dataclass(frozen=True, slots=True)
class Evidence:
    """The values a set of paragraphs makes available to a bullet."""

    numbers: frozenset[float]
    percents: frozenset[float]

    def supports(self, q: Quantity) -> bool:
        pool = self.percents if q.kind == "percent" else self.numbers | self.percents
        return any(_same(q.value, v) for v in pool)


def _same(a: float, b: float) -> bool:
    return abs(a - b) <= 1e-9 * max(1.0, abs(a), abs(b))


def evidence(text: str) -> Evidence:
    """What the paragraph text can support: its numbers, month names, "half" and the like."""
    numbers: set[float] = set()
    percents: set[float] = set()
    folded = _fold(text)
    for m in _matches(folded):
        q = m.quantity()
        (percents if q.kind == "percent" else numbers).add(q.value)
        if m.bare:
            # "100至300万" may also mean 100 to 300万; accept the bare figure too.
            numbers.add(m.mantissa)
    # Generous on purpose: a figure inside a name ("IP15") or written "6成" still
    # supports a bullet that states it; this can only make a bullet pass.
    numbers.update(float(d) for d in _ANY_DIGITS.findall(folded))
    percents.update(float(d) * 10 for d in _ARABIC_TENTHS.findall(folded))
    if _HALF_HOUR.search(folded):
        numbers.add(30.0)
    # "May" is also a verb; as evidence it can only make a bullet's "5" acceptable.
    numbers.update(float(_MONTHS[name.lower()]) for name in _MONTH.findall(folded))
    if _HALF.search(folded):
        numbers.add(0.5)
        percents.add(50.0)
    # "the second session" may render 第二届: as evidence, ordinals count as numbers.
    numbers.update(float(_ORDINALS[w.lower()]) for w in _ORDINAL.findall(folded))
    return Evidence(frozenset(numbers), frozenset(percents))


def unsupported(bullet_text: str, cited_text: str) -> list[Quantity]:
    """Numbers of the bullet that the cited text does not contain (by value)."""
    ev = evidence(cited_text)
    return [q for q in quantities(bullet_text) if not ev.supports(q)]


def check_bullet(bullet: Bullet, document: Document) -> tuple[str, int]:
    """Return ``(reason, numbers_checked)``; an empty reason means the bullet is sound."""
    if not bullet.citations:
        return "cites no paragraph", 0
    missing = [c for c in bullet.citations if document.paragraph(c) is None]
    if missing:
        return f"cites paragraph(s) that do not exist: {missing}", 0
    cited = " ".join(p.text for c in bullet.citations if (p := document.paragraph(c)))
    found = quantities(bullet.text)
    ev = evidence(cited)
    for q in found:
        if not ev.supports(q):
            return f"number {q.raw!r} not found in cited paragraph(s)", len(found)
    return "", len(found)


def verify(summary: Summary, document: Document) -> Summary:
    """Drop unsound bullets (and sections left empty) and record what was checked."""
    kept_sections: list[Section] = []
    dropped: list[DroppedBullet] = list(summary.verification.dropped)
    bullets_checked = citations_checked = numbers_checked = 0
    for section in summary.sections:
        kept: list[Bullet] = []
        for bullet in section.bullets:
            bullets_checked += 1
            citations_checked += len(bullet.citations)
            reason, n_numbers = check_bullet(bullet, document)
            numbers_checked += n_numbers
            if reason:
                dropped.append(DroppedBullet(bullet.text, bullet.citations, reason))
            else:
                kept.append(bullet)
        if kept:
            kept_sections.append(Section(section.title, tuple(kept)))
    return replace(
        summary,
        sections=tuple(kept_sections),
        verification=Verification(
            bullets_checked=bullets_checked,
            citations_checked=citations_checked,
            numbers_checked=numbers_checked,
            dropped=tuple(dropped),
        ),
    )


# -- translations ----------------------------------------------------------------------
# Characters of an English translation per character of Chinese, measured on 1,915
# WMT21 news sentences with human translations: min 1.25, 0.5 % 1.81, median 3.97,
# 99.5 % 6.64, max 8.37. Outside these bounds a translation has lost or gained text.
EN_PER_ZH = (1.2, 9.0)
_LINK = re.compile(r"https?://|www\.", re.IGNORECASE)
_DELIMITERS = re.compile(r"</?\s*(?:source|texts?|document|system|instructions?)\b", re.IGNORECASE)
# A Latin word in Chinese text is a name or a ticker (ASML, Mistral, IPO).
_LATIN_NAME = re.compile(r"(?<![A-Za-z0-9])[A-Za-z][A-Za-z0-9&+]*[A-Za-z0-9](?![A-Za-z0-9])")


_LONE_NUMERAL = re.compile(r"[一二两三四五六七八九十]")


# Pages show the same summaries again and again: the checks (pure) are remembered
# (4,096 bullets, a few MB at most).
@functools.lru_cache(maxsize=4096)
def check_translation(
    original: str, translation: str, cited_text: str, source: str, target: str
) -> str:
    """Why ``translation`` of ``original`` must not be shown, or "" when it may be.

    The translation must be in the target language and about as long as a
    translation of the original is; every number in it must be in the cited text (by
    value, across languages and units: 13亿欧元 = €1.3 billion) and every number of
    the original must survive in it; a Latin name in a Chinese original (ASML,
    OpenAI) must survive into English; it must not add a link or a prompt delimiter.
    """
    text = translation.strip()
    if not text:
        return "the translation is empty"
    if _DELIMITERS.search(text) and not _DELIMITERS.search(original):
        return "the translation contains markup that is not in the original"
    if _LINK.search(text) and not _LINK.search(original):
        return "the translation adds a link"
    share = cjk_ratio(text)
    if target == "en" and share > 0.3:
        return "the translation is not in English"
    if target == "zh" and share < 0.3:
        return "the translation is not in Chinese"
    if source == "zh" and target == "en":
        low, high = EN_PER_ZH
        ratio = len(text) / max(len(original), 1)
    elif source == "en" and target == "zh":
        low, high = 1 / EN_PER_ZH[1], 1 / EN_PER_ZH[0]
        ratio = len(text) / max(len(original), 1)
    else:
        low, high, ratio = 0.0, float("inf"), 1.0
    if ratio < low:
        return "the translation is much shorter than the original (text left out?)"
    if ratio > high:
        return "the translation is much longer than the original (text added?)"
    ev = evidence(cited_text)
    # A name may hold a numeral (三峡 -> Three Gorges): any Chinese numeral of the
    # original may stand behind a number word of the translation.
    loose = frozenset(float(_cn_value(c) or 0) for c in _LONE_NUMERAL.findall(original))
    ev = Evidence(ev.numbers | loose, ev.percents)
    for q in quantities(text):
        if not ev.supports(q):
            return f"number {q.raw!r} of the translation is not in the cited paragraph(s)"
    kept = evidence(text)
    # Each figure of the original must be matched by its own figure of the translation
    # (a multiset): "1% … 1%" rendered "2% … 1%" loses one 1% even though 1% is there.
    written = [(q.value, q.kind) for q in quantities(text)]
    available = list(written)
    for q in quantities(original):
        # Vague Chinese numerals (两国 "the two countries", 几十年 "decades", 数百万
        # "millions") may be rendered without a figure; figures written in digits, or in
        # Chinese digits over 100 (三十亿), may not.
        spelled = any(c in "一二两三四五六七八九" for c in q.raw) and q.value >= 100
        if not (any(c.isdigit() for c in q.raw) or spelled):
            continue
        match = next(
            (
                i
                for i, (v, kind) in enumerate(available)
                if _same(v, q.value) and (kind == q.kind or q.kind == "number")
            ),
            None,
        )
        if match is not None:
            available.pop(match)
        # Unmatched: fine only if the translation says it without a figure ("May",
        # "second"); a figure it writes fewer times than the original was changed.
        elif not kept.supports(q) or any(_same(q.value, v) for v, _ in written):
            return f"number {q.raw!r} of the original did not survive the translation"
    if source == "zh" and target == "en":
        lowered = text.lower()
        for name in _LATIN_NAME.findall(original):
            if len(name) >= 2 and name.lower() not in lowered:
                return f"the name {name!r} of the original did not survive the translation"
    return ""
