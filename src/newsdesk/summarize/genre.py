"""Is a document a news article or an analysis/research report? Pure heuristics.

The two are summarized differently: news leads with its first sentence, a report
with its most central claim (and the LLM prompt uses a report template).
"""

from __future__ import annotations

import re

from newsdesk.models import Document

REPORT_CATEGORIES = frozenset(["report", "analysis", "research", "研报", "研究报告", "分析"])
# Words brokers' research notes use far more than news does.
_REPORT_CUES = re.compile(
    r"(?:维持|给予|上调|下调)[^，。]{0,8}评级|首次覆盖|目标价|盈利预测|投资要点|投资建议"
    r"|风险提示|EPS|研报|我们(?:认为|预计|预测|判断|看好|维持)|price target|research note"
    r"|overweight|underweight|outperform",
    re.IGNORECASE,
)

# Analysts write about "the company" (公司) as the subject of sentence after sentence,
# where news names it.
_COMPANY_SUBJECT = re.compile(r"(?:^|[。；，：\s\u3000])公司")


def genre(document: Document) -> str:
    """``report`` for analysis and research reports, else ``news``."""
    if document.category.strip().lower() in REPORT_CATEGORIES:
        return "report"
    text = " ".join([document.title, *(p.text for p in document.paragraphs)])[:4000]
    cues = len(_REPORT_CUES.findall(text))
    return "report" if cues >= 2 or len(_COMPANY_SUBJECT.findall(text)) >= 4 else "news"
