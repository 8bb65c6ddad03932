"""Section titles of extractive summaries, in every language the UI speaks.

A summary is stored with its titles in English; :func:`section_title` gives a title
in the reader's language (the themes are a closed list, so titles need no machine
translation). Theme keywords are matched as substrings of the lowercased sentence, so
stems ("regulat") cover their inflections.
"""

from __future__ import annotations

import re

LEAD_TITLE = {"en": "Core Viewpoint", "zh": "核心观点"}
OTHER_TITLE = {"en": "Key Details", "zh": "要点"}
# (English title, Chinese title, keywords).
THEMES: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    (
        "Investment & Financing",
        "投资与融资",
        (
            "投资",
            "融资",
            "注资",
            "收购",
            "并购",
            "估值",
            "入股",
            "募资",
            "invest",
            "funding",
            "stake",
            "acqui",
            "valuation",
            "raise",
            "capital",
        ),
    ),
    (
        "Policy & Regulation",
        "政策与监管",
        (
            "政策",
            "监管",
            "法案",
            "管制",
            "关税",
            "制裁",
            "补贴",
            "禁令",
            "许可",
            "主权",
            "regulat",
            "policy",
            "law",
            "act ",
            "tariff",
            "sanction",
            "export control",
            "ban ",
            "bans ",
            "subsid",
            "licen",
            "government",
            "ministry",
            "commission",
            "sovereign",
        ),
    ),
    (
        "Rates & Macro",
        "利率与宏观",
        (
            "利率",
            "降准",
            "降息",
            "加息",
            "通胀",
            "基点",
            "lpr",
            "gdp",
            "cpi",
            "货币",
            "interest rate",
            "inflation",
            "basis point",
            "central bank",
            "monetary",
            "yield",
        ),
    ),
    (
        "Market & Competition",
        "市场与竞争",
        (
            "市场",
            "竞争",
            "份额",
            "对手",
            "价格",
            "销量",
            "营收",
            "利润",
            "股价",
            "market",
            "compet",
            "rival",
            "share",
            "price",
            "sales",
            "revenue",
            "profit",
            "demand",
        ),
    ),
    (
        "Technology & Supply Chain",
        "技术与供应链",
        (
            "技术",
            "芯片",
            "工艺",
            "研发",
            "制程",
            "电池",
            "晶圆",
            "产能",
            "供应链",
            "稀土",
            "光刻",
            "chip",
            "technolog",
            "semiconductor",
            "wafer",
            "capacity",
            "supply",
            "battery",
            "rare earth",
            "lithograph",
            "fab ",
            "fabs ",
        ),
    ),
    (
        "Outlook",
        "展望",
        (
            "预计",
            "预期",
            "计划",
            "将于",
            "未来",
            "展望",
            "目标",
            "expect",
            "forecast",
            "plan",
            "outlook",
            "target",
            "next year",
            "will ",
        ),
    ),
)


def _pattern(keyword: str) -> str:
    # An English keyword starts a word ("regulat" matches "regulators", "ban " only
    # the word "ban"); a Chinese one may sit anywhere.
    if not keyword.isascii():
        return re.escape(keyword)
    core = re.escape(keyword.strip())
    return rf"\b{core}\b" if keyword.endswith(" ") else rf"\b{core}"


_MATCHERS = tuple(tuple(re.compile(_pattern(k)) for k in keywords) for _, _, keywords in THEMES)


def theme_of(text: str) -> int:
    """Index of the theme whose keywords ``text`` uses most, or -1 for none."""
    lowered = text.lower()
    best, best_hits = -1, 0
    for i, matchers in enumerate(_MATCHERS):
        hits = sum(1 for m in matchers if m.search(lowered))
        if hits > best_hits:
            best, best_hits = i, hits
    return best


def theme_title(theme: int, language: str) -> str:
    if theme < 0:
        return OTHER_TITLE["zh" if language == "zh" else "en"]
    english, chinese, _ = THEMES[theme]
    return chinese if language == "zh" else english


# Every known title (either language) -> (English, Chinese).
_TITLES: dict[str, tuple[str, str]] = {
    **{t: (LEAD_TITLE["en"], LEAD_TITLE["zh"]) for t in (*LEAD_TITLE.values(), "Core Insights")},
    **{t: (OTHER_TITLE["en"], OTHER_TITLE["zh"]) for t in OTHER_TITLE.values()},
    **{t: (en, zh) for en, zh, _ in THEMES for t in (en, zh)},
}


def section_title(title: str, language: str) -> str | None:
    """``title`` (a title this module made) in ``language`` (en or zh); None if unknown."""
    pair = _TITLES.get(title)
    if pair is None:
        return None
    return pair[1] if language == "zh" else pair[0]
