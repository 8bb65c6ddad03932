"""Publish times as sources write them: ISO 8601, RFC 822 and the usual Chinese forms.

Every result is time-zone aware. A time written without a zone is taken in the
source's own zone: the zone the caller names, else Asia/Shanghai for Chinese
sources, else UTC. Relative forms (``3小时前``, ``昨天 08:00``, ``2 hours ago``) and
year-less dates (``9月10日``) are resolved against ``now``, the moment the item was
fetched, which callers inject so that tests and re-runs are reproducible.
"""

from __future__ import annotations

import email.utils
import re
from datetime import UTC, date, datetime, time, timedelta, timezone, tzinfo

CHINA_TZ = timezone(timedelta(hours=8), "Asia/Shanghai")

_FULLWIDTH = str.maketrans("０１２３４５６７８９：－／．", "0123456789:-/.")
_CLOCK = (
    r"(?:\s*[Tt]?\s*(?P<h>\d{1,2})\s*[:时點点]\s*(?P<mi>\d{1,2})"
    r"(?:\s*[:分]\s*(?P<s>\d{1,2})\s*秒?)?分?)?"
)
_YMD = re.compile(
    r"^(?P<y>\d{4})\s*(?:[-/.]|年)\s*(?P<mo>\d{1,2})\s*(?:[-/.]|月)\s*(?P<d>\d{1,2})\s*[日号]?"
    + _CLOCK
    + r"\s*$"
)
_MD = re.compile(r"^(?P<mo>\d{1,2})\s*(?:月|-|/)\s*(?P<d>\d{1,2})\s*[日号]?" + _CLOCK + r"\s*$")
_AGO_ZH = re.compile(
    r"^(?P<n>\d+)\s*(?P<unit>秒|分钟|分鐘|小时|小時|天|日|周|週|星期|个月|個月)\s*[以之]?前$"
)
_AGO_EN = re.compile(
    r"^(?P<n>\d+|an?|one)\s+(?P<unit>second|minute|min|hour|hr|day|week|month)s?\s+ago$",
    re.IGNORECASE,
)
_DAY_WORD = re.compile(
    r"^(?P<word>今天|今日|昨天|昨日|前天|today|yesterday)\s*,?\s*"
    r"(?:(?P<h>\d{1,2})\s*[:时点]\s*(?P<mi>\d{1,2})分?)?$",
    re.IGNORECASE,
)
_SPACED_ZONE = re.compile(r"\s+([+-]\d{2}:?\d{2}|[Zz]|UTC|GMT)$")
_NOW_WORDS = frozenset({"刚刚", "剛剛", "just now", "now"})
_ZONE_WORDS = {"北京时间": CHINA_TZ, "北京時間": CHINA_TZ}
_SECONDS = {
    "秒": 1,
    "second": 1,
    "分钟": 60,
    "分鐘": 60,
    "minute": 60,
    "min": 60,
    "小时": 3600,
    "小時": 3600,
    "hour": 3600,
    "hr": 3600,
    "天": 86400,
    "日": 86400,
    "day": 86400,
    "周": 7 * 86400,
    "週": 7 * 86400,
    "星期": 7 * 86400,
    "week": 7 * 86400,
    "个月": 30 * 86400,
    "個月": 30 * 86400,
    "month": 30 * 86400,
}
_DAY_OFFSET = {"今天": 0, "今日": 0, "today": 0, "昨天": 1, "昨日": 1, "yesterday": 1, "前天": 2}
# Some feeds write US-style zone names; for a Chinese source "CST" is China Standard Time.
_RFC_ZONES_ZH = {"CST": "+0800"}


# Publish times are kept within a sane window: nothing is news before the Unix epoch
# here, and a time more than two days ahead of when the item was read is a typo or a
# placeholder (9999-12-31). Times outside it are dropped (the document is undated).
EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
FUTURE_SLACK = timedelta(days=2)


class DateParseError(ValueError):
    """The text is not a publish time in any form we read."""


def latest_allowed(now: datetime) -> datetime:
    """The latest publish time accepted for an item read at ``now``."""
    return now + FUTURE_SLACK


def in_window(moment: datetime, now: datetime) -> bool:
    """True when ``moment`` lies between :data:`EARLIEST` and ``now`` plus two days."""
    try:
        return EARLIEST <= moment <= latest_allowed(now)
    except (OverflowError, TypeError):
        return False


def window_text(now: datetime) -> str:
    return f"{EARLIEST.date().isoformat()} .. {latest_allowed(now).date().isoformat()}"


def default_zone(lang: str, zone: tzinfo | None = None) -> tzinfo:
    """The zone assumed for times written without one."""
    if zone is not None:
        return zone
    return CHINA_TZ if lang in ("zh", "mixed") else UTC


def _at(y: int, mo: int, d: int, m: re.Match[str], tz: tzinfo) -> datetime:
    h = int(m.group("h") or 0)
    mi = int(m.group("mi") or 0)
    s = int(m.groupdict().get("s") or 0)
    return datetime(y, mo, d, h, mi, s, tzinfo=tz)


def _iso(text: str, tz: tzinfo) -> datetime | None:
    candidate = text
    if len(candidate) == 10 and candidate[4] == "-":
        try:
            d = date.fromisoformat(candidate)
        except ValueError:
            return None
        return datetime.combine(d, time.min, tzinfo=tz)
    if " " in candidate and candidate[:4].isdigit():
        candidate = _SPACED_ZONE.sub(r"\1", candidate).replace(" ", "T", 1)
        if candidate.endswith(("UTC", "GMT")):
            candidate = candidate[:-3] + "+00:00"
    if candidate.endswith(("z", "Z")):
        candidate = candidate[:-1] + "+00:00"
    try:
        parsed = datetime.fromisoformat(candidate)
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=tz)


def _rfc822(text: str, lang: str, tz: tzinfo) -> datetime | None:
    candidate = text
    if lang in ("zh", "mixed"):
        for name, offset in _RFC_ZONES_ZH.items():
            if candidate.endswith(" " + name):
                candidate = candidate[: -len(name)] + offset
    if not re.search(r"[A-Za-z]{3}", candidate):
        return None
    try:
        parsed = email.utils.parsedate_to_datetime(candidate)
    except (TypeError, ValueError, IndexError):
        return None
    if parsed is None:
        return None
    # email.utils marks "-0000" (zone unknown) as naive: that is the source's local time.
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=tz)


def _relative(text: str, now: datetime, tz: tzinfo) -> datetime | None:
    lowered = text.lower()
    if lowered in _NOW_WORDS:
        return now
    for rx in (_AGO_ZH, _AGO_EN):
        m = rx.match(lowered)
        if m:
            raw = m.group("n")
            n = 1 if raw in ("a", "an", "one") else int(raw)
            return now - timedelta(seconds=n * _SECONDS[m.group("unit")])
    m = _DAY_WORD.match(lowered)
    if m:
        local = now.astimezone(tz)
        day = local.date() - timedelta(days=_DAY_OFFSET[m.group("word")])
        return _at(day.year, day.month, day.day, m, tz)
    return None


def parse_datetime(
    value: str, lang: str = "", *, now: datetime | None = None, zone: tzinfo | None = None
) -> datetime:
    """Parse a publish time; the result always carries a zone.

    Args:
        value: the time as the source wrote it.
        lang: the document's language; picks the default zone (see :func:`default_zone`).
        now: the fetch time, for relative and year-less forms (default: the current time).
        zone: the source's own zone for times written without one.

    Raises:
        DateParseError: ``value`` is not a time in any form we read.
    """
    try:
        return _parse(value, lang, now, zone)
    except OverflowError as exc:  # "99999999天前", a time zone pushing year 9999 over
        raise DateParseError(f"time out of range: {value[:60]!r}") from exc


def _parse(value: str, lang: str, now: datetime | None, zone: tzinfo | None) -> datetime:
    tz = default_zone(lang, zone)
    text = " ".join(value.translate(_FULLWIDTH).split())
    for word, word_tz in _ZONE_WORDS.items():
        if text.startswith(word) or text.endswith(word):
            text = text.replace(word, "").strip()
            tz = word_tz
    if not text:
        raise DateParseError("empty time")
    if text.isdigit() and len(text) in (10, 13):
        seconds = int(text) / (1000 if len(text) == 13 else 1)
        return datetime.fromtimestamp(seconds, tz=UTC)
    found = _iso(text, tz) or _rfc822(text, lang, tz)
    if found is not None:
        return found
    try:
        m = _YMD.match(text)
        if m:
            return _at(int(m.group("y")), int(m.group("mo")), int(m.group("d")), m, tz)
        clock = now or datetime.now(UTC)
        m = _MD.match(text)
        if m:
            local_now = clock.astimezone(tz)
            parsed = _at(local_now.year, int(m.group("mo")), int(m.group("d")), m, tz)
            # "12月30日" read on 2 January is last year's, not a date in the future.
            if parsed - local_now > timedelta(days=2):
                parsed = parsed.replace(year=local_now.year - 1)
            return parsed
        found = _relative(text, clock, tz)
    except ValueError as exc:  # day 31 of a 30-day month, hour 25 ...
        raise DateParseError(f"not a valid time: {value[:60]!r}") from exc
    if found is not None:
        return found
    raise DateParseError(f"unrecognised time: {value[:60]!r}")
