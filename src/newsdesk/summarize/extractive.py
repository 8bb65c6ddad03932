"""The offline default summarizer: salient sentences, grouped by theme, cited.

Each sentence is scored for what readers of the seed page value (concrete figures,
named entities, words of the headline, words central to the article) and for its
position. The best few open the summary as its lead section; the next best are
grouped into themed sections by the vocabulary they use. A bullet is a sentence of
the article (less a wire dateline such as "新华社北京7月26日电"), so it cites exactly
the paragraph it was taken from.

The lead bullet is the news lede; a research report leads with its most central
sentence (TextRank over character tokens). Skipping ledes that are quotations or
questions was tried and measured worse on LCSTS and FinNA, so news keeps its lede.
``newsdesk eval summaries`` measures this choice against LEAD-1 and TextRank
(bench/summaries.md).
"""

from __future__ import annotations

import math
import re
from collections import Counter
from dataclasses import dataclass

from newsdesk.models import Bullet, Document, Section, Summary
from newsdesk.summarize.genre import genre
from newsdesk.summarize.verify import verify
from newsdesk.text import split_sentences, tokenize

LEAD_TITLE = {"en": "Core Insights", "zh": "核心观点"}
OTHER_TITLE = {"en": "Key Details", "zh": "要点"}
# (English title, Chinese title, keywords). Keywords are matched as substrings of
# the lowercased sentence, so stems ("regulat") cover their inflections.
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
            "ban",
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
            "fab",
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
_BOILERPLATE = re.compile(
    r"责任编辑|本文来源|来源：|免责声明|版权|点击|关注我们|扫码|原标题|reporting by|editing by"
    r"|all rights reserved|subscribe|click here|follow us|sign up",
    re.IGNORECASE,
)
_FIGURE = re.compile(r"\d|[%％‰€$¥£]|万|亿|percent|billion|million")
_ENTITY = re.compile(r"\b[A-Z][A-Za-z0-9&.-]+\b")


# Wire datelines and relative-time openers carry no fact of their own; attributions
# ("据新华社报道") are kept, since who says so matters.
_DATELINE = re.compile(
    r"^(?:【[^】]{1,20}】"
    r"|[^，,。：:（(]{1,12}(?:消息|快讯|讯)(?:[（(][^）)]{1,12}[）)])?[：:，,丨|]"
    r"|[^，,。]{1,22}\d{1,2}月\d{1,2}日电(?:[（(][^）)]{1,20}[）)])?"
    r"|[^，,。\s]{1,8}\d{1,2}月\d{1,2}日\s*[丨|]"
    r"|\d{1,2}月\d{1,2}日消息[，,]"
    r"|(?:近日|日前|今天|今日|昨天|昨日|目前|近期)[，,])\s*"
)
_CENTRALITY_LIMIT = 60


def strip_dateline(text: str) -> str:
    """``text`` without leading wire datelines, if enough is left to stand alone."""
    for _ in range(3):
        m = _DATELINE.match(text)
        if not m or not m.end() or len(text) - m.end() < 10:
            break
        text = text[m.end() :]
    return text


def _char_tokens(text: str) -> set[str]:
    return set(_CHAR_TOKEN.findall(text.lower()))


_CHAR_TOKEN = re.compile(r"[\u3400-\u9fff]|[0-9a-z]+")


def textrank_scores(
    token_sets: list[set[str]], damping: float = 0.85, iterations: int = 30
) -> list[float]:
    """PageRank over sentence similarity |shared| / (log|a| + log|b|) (TextRank)."""
    n = len(token_sets)
    weights = [[0.0] * n for _ in range(n)]
    for i in range(n):
        for j in range(i + 1, n):
            shared = len(token_sets[i] & token_sets[j])
            denom = math.log(len(token_sets[i]) + 1) + math.log(len(token_sets[j]) + 1)
            if shared and denom > 0:
                weights[i][j] = weights[j][i] = shared / denom
    totals = [sum(row) for row in weights]
    scores = [1.0] * n
    for _ in range(iterations):
        scores = [
            (1 - damping)
            + damping * sum(weights[j][i] / totals[j] * scores[j] for j in range(n) if totals[j])
            for i in range(n)
        ]
    return scores


def centrality(texts: list[str], damping: float = 0.85, iterations: int = 30) -> list[float]:
    """TextRank scores of ``texts`` scaled so the most central is 1."""
    if len(texts) <= 1:
        return [1.0] * len(texts)
    scores = textrank_scores([_char_tokens(t) for t in texts], damping, iterations)
    top = max(scores)
    return [s / top for s in scores]


@dataclass(frozen=True, slots=True)
class _Sentence:
    paragraph: int
    order: int
    text: str
    tokens: frozenset[str]


# A token no sentence contains, placed between sentences so that one tokenize() call
# per paragraph yields each sentence's tokens (the tokenizer never joins text across
# spaces, and a Latin word never merges with Chinese): identical to tokenizing each
# sentence on its own (checked by a test), at a third of the calls' overhead.
_BREAK = "zqxsentbrkzqx"


def _sentences(document: Document) -> list[_Sentence]:
    out: list[_Sentence] = []
    for p in document.paragraphs:
        sentences = split_sentences(p.text)
        if any(_BREAK in s for s in sentences):
            token_lists = [tokenize(s) for s in sentences]
        else:
            token_lists = [[]]
            for token in tokenize(f" {_BREAK} ".join(sentences)):
                if token == _BREAK:
                    token_lists.append([])
                else:
                    token_lists[-1].append(token)
            if len(token_lists) != len(sentences):
                token_lists = [tokenize(s) for s in sentences]
        for s, tokens in zip(sentences, token_lists, strict=True):
            out.append(_Sentence(p.n, len(out), s, frozenset(tokens)))
    return out


def _usable(s: _Sentence, lang: str) -> bool:
    length = len(s.text) if lang == "zh" else len(s.text.split())
    short, long_ = (12, 220) if lang == "zh" else (6, 60)
    return short <= length <= long_ and not _BOILERPLATE.search(s.text)


def _score(s: _Sentence, title_tokens: frozenset[str], weights: Counter[str], n_para: int) -> float:
    figures = min(len(_FIGURE.findall(s.text)), 6)
    entities = min(len(_ENTITY.findall(s.text)), 4)
    title = len(s.tokens & title_tokens) / (len(title_tokens) or 1)
    centrality = sum(weights[t] for t in s.tokens) / math.sqrt(len(s.tokens) or 1)
    position = 1.0 - (s.paragraph - 1) / max(n_para, 1)
    return 1.5 * title + 0.35 * figures + 0.15 * entities + 0.6 * centrality + 0.8 * position


def _theme(text: str) -> int:
    lowered = text.lower()
    best, best_hits = -1, 0
    for i, (_, _, keywords) in enumerate(THEMES):
        hits = sum(1 for k in keywords if k in lowered)
        if hits > best_hits:
            best, best_hits = i, hits
    return best


def _similar(a: _Sentence, b: _Sentence) -> bool:
    union = a.tokens | b.tokens
    return bool(union) and len(a.tokens & b.tokens) / len(union) > 0.6


class ExtractiveSummarizer:
    """Offline, deterministic and fast enough to run at ingest time."""

    name = "extractive"
    version = "extractive-v1"

    def __init__(self, ui_language: str = "en", max_bullets: int = 9) -> None:
        self.ui_language = ui_language if ui_language in LEAD_TITLE else "en"
        self.max_bullets = max_bullets

    def summarize(self, document: Document) -> Summary:
        lang = document.lang if document.lang in ("zh", "en") else "en"
        if document.lang == "mixed":
            # Half Chinese: sentence lengths must be counted in characters, as for zh.
            lang = "zh"
        sentences = [s for s in _sentences(document) if _usable(s, lang)]
        if not sentences:
            # Too little prose to choose from: fall back to the opening of each paragraph.
            sentences = [
                _Sentence(p.n, i, p.text, frozenset(tokenize(p.text)))
                for i, p in enumerate(document.paragraphs[:3])
            ]
        title_tokens = frozenset(tokenize(document.title))
        df: Counter[str] = Counter()
        for s in sentences:
            df.update(s.tokens)
        total = sum(df.values()) or 1
        weights: Counter[str] = Counter({t: c / total for t, c in df.items() if c > 1})
        n_para = len(document.paragraphs)
        ranked = sorted(
            sentences, key=lambda s: (-_score(s, title_tokens, weights, n_para), s.order)
        )

        # Budget grows with the article but never pads a short one.
        budget = max(1, min(self.max_bullets, math.ceil(len(sentences) * 0.6)))
        lede = _lead(document, sentences)
        chosen: list[_Sentence] = [lede]
        for s in ranked:
            if len(chosen) >= budget:
                break
            if s is not lede and not any(_similar(s, c) for c in chosen):
                chosen.append(s)

        n_lead = 1 if len(chosen) <= 2 else 2 if len(chosen) <= 6 else 3
        # The lead sentence opens the lead section; the others follow in reading order.
        lead = [lede, *sorted(chosen[1:n_lead], key=lambda s: s.order)]
        rest = chosen[n_lead:]
        groups: dict[int, list[_Sentence]] = {}
        for s in rest:
            groups.setdefault(_theme(s.text), []).append(s)
        ui = self.ui_language
        sections = [Section(LEAD_TITLE[ui], tuple(_bullet(s) for s in lead))]
        for theme, members in sorted(groups.items(), key=lambda kv: min(s.order for s in kv[1])):
            members.sort(key=lambda s: s.order)
            title = OTHER_TITLE[ui] if theme < 0 else _theme_title(theme, ui)
            sections.append(Section(title, tuple(_bullet(s) for s in members[:3])))
        summary = Summary(
            doc_id=document.id,
            sections=tuple(sections[:5]),
            language=lang,
            summarizer=self.name,
            prompt_version=self.version,
            content_hash=document.content_hash,
        )
        return verify(summary, document)


def _theme_title(theme: int, ui: str) -> str:
    english, chinese, _ = THEMES[theme]
    return chinese if ui == "zh" else english


def _bullet(s: _Sentence) -> Bullet:
    return Bullet(text=strip_dateline(s.text), citations=(s.paragraph,))


def _lead(document: Document, sentences: list[_Sentence]) -> _Sentence:
    """The sentence that opens the summary: a news story's lede, a report's most
    central sentence (its thesis may sit anywhere)."""
    first = min(sentences, key=lambda s: s.order)
    if genre(document) != "report":
        return first
    pool = sorted(sentences, key=lambda s: s.order)[:_CENTRALITY_LIMIT]
    scores = centrality([s.text for s in pool])
    return pool[max(range(len(pool)), key=lambda i: (scores[i], -i))]
