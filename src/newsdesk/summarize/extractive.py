"""The offline default summarizer: a one-sentence Core Viewpoint, then themed bullets.

A summary is short (about a third of the article at most, measured in characters,
and never more than the article minus its lede) and made of whole sentences of the
article, so every bullet cites exactly the paragraphs it was taken from:

- Sentences are split at 。！？!? and English full stops, never at "；", so a bullet
  is never a clause whose other half sits in the next bullet.
- The Core Viewpoint is one sentence that says what the article is about: the news
  lede, or a report's most central sentence (TextRank over character tokens).
- Further sentences are scored for what readers value (concrete figures, names,
  words of the headline, words central to the article, position) and chosen best
  first while they fit the length budget; near-repeats are skipped.
- A sentence that leans on the one before it (a pronoun, "this", "however", 此外,
  对此, 该, 其, "…, she said") is never shown alone: it is chosen together with the
  sentence it leans on, as one bullet citing both paragraphs, or not at all.
- Headings, photo captions, bylines, questions, lines ending in a colon and the
  publisher's boilerplate are never bullets.

``newsdesk eval keyfacts`` measures key-fact coverage against LEAD of the same length
and the length ratios on hand-annotated real articles (bench/summaries.md).
"""

from __future__ import annotations

import heapq
import math
import re
import unicodedata
from collections import Counter
from dataclasses import dataclass

from newsdesk.models import Bullet, Document, Section, Summary
from newsdesk.summarize.genre import genre
from newsdesk.summarize.themes import LEAD_TITLE, OTHER_TITLE, THEMES, theme_of, theme_title
from newsdesk.summarize.verify import verify
from newsdesk.text import Segmented, segment, split_sentences, tokenize

__all__ = [
    "LEAD_TITLE",
    "OTHER_TITLE",
    "THEMES",
    "ExtractiveSummarizer",
    "centrality",
    "join_sentences",
    "leans_on_previous",
    "strip_dateline",
    "textrank_scores",
]

_BOILERPLATE = re.compile(
    r"责任编辑|本文来源|本文来自|来源：|文章来源|免责声明|版权|点击|关注我们|扫码|原标题|欢迎下载"
    r"|图源|reporting by|editing by|all rights reserved|subscribe|click here|follow us|sign up"
    r"|^authored by|getty images|ap photo|pic\.twitter\.com|https?://|www\.|^[—–]"
    r"|^(?:文|编辑|作者|记者|撰文|出品|策划)\s*[｜|]",
    re.IGNORECASE,
)
# A paragraph holding a photo credit is a caption, whatever else it says.
_CAPTION = re.compile(
    r"getty images|ap photo|/ap\b|reuters/|\bphoto by\b|\bphoto:|图源|摄$|^图片?[:：]",
    re.IGNORECASE,
)
_FIGURE = re.compile(r"\d|[%％‰€$¥£]|万|亿|percent|billion|million")
_ENTITY = re.compile(r"\b[A-Z][A-Za-z0-9&.-]+\b")
_TERMINAL = "。！？!?.…”\"’'）)」』；;"
_QUESTION = re.compile(r"[？?][”\"’'）)」』]*$")
_COLON_END = re.compile(r"[：:]\s*$")
# "投资机构：宁波…" — a labelled fact line of a funding announcement, not a heading.
_LABEL = re.compile(r"^[^：:，。,]{1,10}[：:]\s*\S")

# Sentences that lean on the one before them. English: an opening pronoun or
# connective ("This year" and the like are times, not references), or an unnamed
# speaker ("…, she said."); any sentence starting in lower case continues another.
_LEANS_EN = re.compile(
    r"^[\"“‘'(\[]*(?:he|she|it|they|them|his|her|its|their|this(?! (?:year|week|month|quarter"
    r"|morning|afternoon|evening|time|season|spring|summer|fall|autumn|winter)\b)|that|these"
    r"|those|such|but|however|also|additionally|moreover|furthermore|meanwhile|still|yet"
    r"|instead|nevertheless|nonetheless|thus|therefore|hence|otherwise|similarly|likewise"
    r"|besides|then|both|neither|either|in addition|in contrast|by contrast|as a result"
    r"|on the other hand|at the same time|even so|despite this|after that|the move|the decision"
    r"|the latter|the former|one of them|some of them|many of them|most of them|all of them"
    r"|of those|of these)\b",
    re.IGNORECASE,
)
_UNNAMED_SPEAKER_EN = re.compile(
    r"(?:^|[,\"”’']\s*)(?:he|she|they)\s+(?:said|says|added|adds|noted|told|wrote|argued"
    r"|explained|warned|continued|stated|insisted)\b|\bsaid (?:he|she)[.!]?[\"”’']?$",
    re.IGNORECASE,
)
_LEANS_ZH = re.compile(
    r"^[“\"「『（(]*(?:此外|对此|为此|由此|据此|因此|所以|因而|于是|并且|而且|而|同时|与此同时"
    r"|但是|但|不过|然而|可是|另外|另一方面|除此之外|除此以外|其(?!实)|该|此(?!前)|这|那"
    r"|他们|她们|它们|他|她|它|上述|以上|前者|后者|两者|二者|随后|接着|继而|总之|换言之"
    r"|也就是说|比如|例如|其次|再次|最后|第二|第三|第四|这次|此次|此举|一方面)"
)
# "按此测算，这将…", "在这一背景下…": a reference in the first few characters.
_EARLY_REFERENCE_ZH = re.compile(
    r"^[^，,。：:]{0,8}(?:此(?!前)|这|(?<!应)该)|^[^，,。：:]{0,12}[，,]\s*(?:他(?!人)|她|它)"
    r"|^[^，,。]{0,15}对此"
)
# "X also …", "Other banks …", and a pronoun subject after a short opener ("In 2020, he").
_ALSO_EN = re.compile(
    r"^(?:\S+\s+){0,8}also\b|^other\b|^[^,.]{0,30},\s*(?:he|she|they|it)\b", re.IGNORECASE
)
_UNNAMED_SPEAKER_ZH = re.compile(
    r"[，,]\s*(?:他|她|他们|她们)(?:说|表示|指出|称|认为|坦言|透露|强调|介绍|补充)"
)

# Wire datelines and relative-time openers carry no fact of their own; attributions
# ("据新华社报道") are kept, since who says so matters.
_DATELINE = re.compile(
    r"^(?:【[^】]{1,20}】"
    r"|[^，,。：:（(]{1,12}(?:消息|快讯|讯)(?:[（(][^）)]{1,12}[）)])?[：:，,丨|]"
    r"|[^，,。]{1,22}\d{1,2}月\d{1,2}日电(?:[（(][^）)]{1,20}[）)])?"
    r"|[^，,。\s]{1,8}\d{1,2}月\d{1,2}日\s*[丨|]"
    r"|\d{1,2}月\d{1,2}日消息[，,]"
    r"|(?:近日|日前|今天|今日|昨天|昨日|目前|近期)[，,]"
    r"|[A-Z][A-Z .,'-]{2,40}(?:\([^)]{1,30}\))?\s+[-–—]{1,2}\s)\s*"
)
_CENTRALITY_LIMIT = 60
# How many sentences one bullet may join (a sentence and those it leans on).
_MAX_CHAIN = 3


def strip_dateline(text: str) -> str:
    """``text`` without leading wire datelines, if enough is left to stand alone."""
    for _ in range(3):
        m = _DATELINE.match(text)
        if not m or not m.end() or len(text) - m.end() < 10:
            break
        text = text[m.end() :]
    return text


def leans_on_previous(sentence: str) -> bool:
    """Whether ``sentence`` needs the one before it to be understood."""
    text = sentence.lstrip()
    if not text:
        return False
    if _LEANS_ZH.match(text) or _EARLY_REFERENCE_ZH.match(text):
        return True
    if _UNNAMED_SPEAKER_ZH.search(text) or _UNNAMED_SPEAKER_EN.search(text):
        return True
    if _LEANS_EN.match(text) or _ALSO_EN.match(text):
        return True
    first = next((c for c in text if c.isalpha()), "")
    return bool(first) and first.isascii() and first.islower()


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
    usable: bool = True
    leans: bool = False


def _fold(text: str) -> str:
    return "".join(unicodedata.normalize("NFKC", text).lower().split())


def _is_heading(paragraph: str, sentences: list[str], lang: str) -> bool:
    """A heading or caption: one short line with no sentence ending and no label."""
    if len(sentences) != 1 or paragraph.rstrip()[-1:] in _TERMINAL:
        return False
    if _LABEL.match(paragraph):
        return False
    return len(paragraph) <= 60 if lang == "zh" else len(paragraph.split()) <= 25


def _sentences(document: Document, lang: str, seg: Segmented) -> list[_Sentence]:
    """Every prose sentence in reading order; headings and title repeats left out."""
    title = _fold(document.title)
    out: list[_Sentence] = []
    for p, part in zip(document.paragraphs, seg.paragraphs, strict=True):
        sentences = list(part.sentences)
        if not sentences or (title and _fold(p.text) == title):
            continue
        if _is_heading(p.text, sentences, lang) or _CAPTION.search(p.text):
            continue
        for s, tokens in zip(sentences, part.tokens, strict=True):
            out.append(
                _Sentence(
                    p.n,
                    len(out),
                    s,
                    frozenset(tokens),
                    usable=_usable(s, lang),
                    leans=leans_on_previous(s),
                )
            )
    return out


def _usable(text: str, lang: str) -> bool:
    if _BOILERPLATE.search(text) or _QUESTION.search(text) or _COLON_END.search(text):
        return False
    if lang == "zh":
        short = 6 if _LABEL.match(text) else 12
        return short <= len(text) <= 300
    return 6 <= len(text.split()) <= 90


_FIGURE_TOKEN = re.compile(
    r"\d+(?:[.,:/]\d+)*\s?(?:%|％|‰|个百分点|万亿|亿|万|千|bps?|pct|percent|billion|million|mln|bn)?"
    r"|百分之[一二三四五六七八九十百零点]+"
)


@dataclass(frozen=True, slots=True)
class _Features:
    """What a sentence can add to a summary; sets so that repeats add nothing."""

    figures: frozenset[str]
    entities: frozenset[str]
    title: frozenset[str]
    central: float
    position: float


def _features(
    s: _Sentence, title_tokens: frozenset[str], weights: Counter[str], n_para: int
) -> _Features:
    figures = frozenset(m.group(0).replace(" ", "") for m in _FIGURE_TOKEN.finditer(s.text))
    return _Features(
        figures=figures,
        entities=frozenset(_ENTITY.findall(s.text)),
        title=s.tokens & title_tokens,
        central=sum(weights[t] for t in s.tokens) / math.sqrt(len(s.tokens) or 1),
        position=1.0 - (s.paragraph - 1) / max(n_para, 1),
    )


@dataclass
class _Covered:
    figures: set[str]
    entities: set[str]
    title: set[str]

    def add(self, f: _Features) -> None:
        self.figures |= f.figures
        self.entities |= f.entities
        self.title |= f.title


def _gain(fs: list[_Features], covered: _Covered, n_title: int) -> float:
    """What a unit of sentences adds beyond what the summary already says."""
    figures = set().union(*(f.figures for f in fs)) - covered.figures
    entities = set().union(*(f.entities for f in fs)) - covered.entities
    title = set().union(*(f.title for f in fs)) - covered.title
    w = _WEIGHTS
    return (
        w[0] * len(title) / (n_title or 1)
        + w[1] * min(len(figures), 6)
        + w[2] * min(len(entities), 4)
        + w[3] * max(f.central for f in fs)
        + w[4] * max(f.position for f in fs)
    )


def _similar(a: frozenset[str], b: frozenset[str]) -> bool:
    union = a | b
    return bool(union) and len(a & b) / len(union) > 0.6


@dataclass(frozen=True, slots=True)
class _Unit:
    """A run of sentences shown as one bullet: a sentence and those it leans on."""

    first: int
    last: int


def _units(sentences: list[_Sentence]) -> list[_Unit]:
    """Every choosable unit: a sentence that stands alone, or a leaning sentence
    together with the sentences it leans on (at most ``_MAX_CHAIN``)."""
    units = []
    for i, s in enumerate(sentences):
        if not s.usable:
            continue
        first = i
        while sentences[first].leans and first > 0 and i - first + 1 < _MAX_CHAIN:
            first -= 1
        if sentences[first].leans or not all(t.usable for t in sentences[first : i + 1]):
            continue  # leans on nothing usable: never shown alone
        units.append(_Unit(first, i))
    return units


# Weights of what a sentence adds (headline words, new figures, new names, centrality,
# position) and how strongly its length counts against it (gain / chars**exponent).
# Set on the dev articles of ``newsdesk eval keyfacts`` and on figure coverage of 700
# unannotated articles (bench/summaries.md); the test articles were not looked at.
_WEIGHTS = (1.5, 0.35, 0.15, 0.6, 0.4)
_COST_EXPONENT = 0.3


class ExtractiveSummarizer:
    """Offline, deterministic and fast enough to run at ingest time.

    Args:
        ui_language: language of the section titles as stored (``en`` or ``zh``).
        max_bullets: bullets at most, the Core Viewpoint included.
        ratio: the length budget as a share of the article's characters.
        max_chars: the budget's ceiling for long articles, in characters of English
            (Chinese counts each character as ``zh_char_weight`` of them).
    """

    name = "extractive"
    version = "extractive-v2"

    def __init__(
        self,
        ui_language: str = "en",
        max_bullets: int = 7,
        ratio: float = 0.33,
        max_chars: int = 1500,
        zh_char_weight: float = 2.5,
    ) -> None:
        self.ui_language = ui_language if ui_language in LEAD_TITLE else "en"
        self.max_bullets = max_bullets
        self.ratio = ratio
        self.max_chars = max_chars
        self.zh_char_weight = zh_char_weight

    def _budget(self, article_chars: int, lede_chars: int, lang: str) -> int:
        ceiling = self.max_chars / (self.zh_char_weight if lang == "zh" else 1.0)
        budget = min(self.ratio * article_chars, ceiling)
        # Never more than the article minus its lede, so a summary is never the article.
        return int(min(budget, article_chars - lede_chars))

    def summarize(self, document: Document, segmented: Segmented | None = None) -> Summary:
        """Summarize ``document``; ``segmented`` is its :func:`newsdesk.text.segment`
        when the caller has it already (ingest segments once for index and summary)."""
        seg = segmented
        if seg is None or len(seg.paragraphs) != len(document.paragraphs):
            seg = segment(document.title, [p.text for p in document.paragraphs])
        lang = "zh" if document.lang in ("zh", "mixed") else "en"
        sentences = _sentences(document, lang, seg)
        if not any(s.usable for s in sentences):
            # Nothing but headings, ads or questions: the article's first sentence has
            # to do (still one sentence, cited).
            opening = document.paragraphs[0] if document.paragraphs else None
            text = ""
            if opening is not None:
                text = (split_sentences(opening.text, semicolons=False) or [opening.text])[0]
            number = opening.n if opening is not None else 1
            sentences = [_Sentence(number, 0, text, frozenset(tokenize(text)))]
        title_tokens = frozenset(seg.title)
        df: Counter[str] = Counter()
        for s in sentences:
            df.update(s.tokens)
        total = sum(df.values()) or 1
        weights: Counter[str] = Counter({t: c / total for t, c in df.items() if c > 1})
        n_para = len(document.paragraphs)
        features = [_features(s, title_tokens, weights, n_para) for s in sentences]

        core = _core(document, sentences, title_tokens)
        article_chars = sum(len(p.text) for p in document.paragraphs)
        budget = self._budget(article_chars, len(sentences[core].text), lang)
        chosen: dict[int, int] = {core: core}  # first sentence -> last sentence of a bullet
        used = len(sentences[core].text)
        taken = {core}
        covered = _Covered(set(), set(), set())
        covered.add(features[core])
        units = _units(sentences)

        def value(k: int) -> tuple[float, int, set[int], int | None] | None:
            """What unit ``k`` adds per length now, or None if it cannot be chosen."""
            unit = units[k]
            span = set(range(unit.first, unit.last + 1))
            new = span - taken
            if not new:
                return None
            extends = next((f for f, e in chosen.items() if f <= unit.first <= e), None)
            if span & taken and (extends is None or extends == core):
                # Overlaps a bullet without continuing it, or would turn the
                # one-sentence Core Viewpoint into two.
                return None
            cost = sum(len(sentences[i].text) for i in new)
            if used + cost > budget:
                return None
            gain = _gain([features[i] for i in sorted(new)], covered, len(title_tokens))
            return gain / cost**_COST_EXPONENT, cost, new, extends

        # Lazy greedy: a unit's value only falls as the summary covers more, so a value
        # computed earlier is an upper bound; units next to a chosen one are recomputed.
        heap: list[tuple[float, int]] = []
        for k in range(len(units)):
            start = value(k)
            if start is not None:
                heapq.heappush(heap, (-start[0], k))
        while heap and len(chosen) < self.max_bullets:
            _, k = heapq.heappop(heap)
            current = value(k)
            if current is None:
                continue
            if heap and current[0] < -heap[0][0]:
                heapq.heappush(heap, (-current[0], k))
                continue
            _, cost, new, extends = current
            unit = units[k]
            tokens = frozenset().union(*(sentences[i].tokens for i in new))
            if any(_similar(tokens, sentences[i].tokens) for i in taken):
                continue  # a near-repeat of what is chosen
            chosen[extends if extends is not None else unit.first] = unit.last
            taken |= new
            used += cost
            for i in new:
                covered.add(features[i])
            # Units that overlap what was just taken now cost less: value them again.
            for j, other in enumerate(units):
                if j != k and other.first <= max(new) and other.last >= min(new):
                    again = value(j)
                    if again is not None:
                        heapq.heappush(heap, (-again[0], j))

        ui = self.ui_language
        lead = _bullet(sentences, core, chosen.pop(core))
        groups: dict[int, list[tuple[int, Bullet]]] = {}
        for first, last in chosen.items():
            bullet = _bullet(sentences, first, last)
            groups.setdefault(theme_of(bullet.text), []).append((first, bullet))
        sections = [Section(LEAD_TITLE[ui], (lead,))]
        # A theme with a single bullet joins the others under "Key Details".
        themed = {t: m for t, m in groups.items() if t >= 0 and len(m) >= 2}
        rest = sorted(x for t, m in groups.items() if t not in themed for x in m)
        ordered = sorted(themed.items(), key=lambda kv: min(f for f, _ in kv[1]))
        for theme, members in ordered:
            members.sort(key=lambda x: x[0])
            sections.append(Section(theme_title(theme, ui), tuple(b for _, b in members)))
        if rest:
            sections.append(Section(OTHER_TITLE[ui], tuple(b for _, b in rest)))
        summary = Summary(
            doc_id=document.id,
            sections=tuple(sections),
            language=lang if document.lang != "mixed" else "zh",
            summarizer=self.name,
            prompt_version=self.version,
            content_hash=document.content_hash,
        )
        return verify(summary, document)


def join_sentences(texts: list[str]) -> str:
    """Sentences as one bullet: English ones joined with a space, Chinese ones without."""
    joined = ""
    for text in texts:
        if joined and text and (joined[-1].isascii() or text[0].isascii()):
            joined += " "
        joined += text
    return joined


def _bullet(sentences: list[_Sentence], first: int, last: int) -> Bullet:
    run = sentences[first : last + 1]
    text = join_sentences([strip_dateline(run[0].text), *(s.text for s in run[1:])])
    return Bullet(text=text, citations=tuple(sorted({s.paragraph for s in run})))


def _core(document: Document, sentences: list[_Sentence], title: frozenset[str]) -> int:
    """The Core Viewpoint: a news story's lede, a report's most central sentence."""
    standalone = [i for i, s in enumerate(sentences) if s.usable and not s.leans]
    if not standalone:
        # Every usable sentence leans on another: the first usable one will have to do.
        return next((i for i, s in enumerate(sentences) if s.usable), 0)
    if genre(document) != "report":
        return _lede(sentences, standalone, title)
    pool = standalone[:_CENTRALITY_LIMIT]
    scores = centrality([sentences[i].text for i in pool])
    return pool[max(range(len(pool)), key=lambda k: (scores[k], -k))]


def _lede(sentences: list[_Sentence], standalone: list[int], title: frozenset[str]) -> int:
    """The first sentence, unless it misses the headline and one of the next two says it."""
    if not title:
        return standalone[0]

    def overlap(i: int) -> float:
        return len(sentences[i].tokens & title) / len(title)

    first = standalone[0]
    best = max(standalone[:3], key=lambda i: (overlap(i), -i))
    return best if overlap(first) < 0.2 <= overlap(best) - 0.2 else first
