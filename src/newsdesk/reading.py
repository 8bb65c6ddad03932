"""A summary as a reader sees it, in the language they asked for (pure functions).

The reader asks for ``en``, ``zh`` or ``original``. A stored summary is shown:

- in its own language, with section titles in the reader's language (titles are a
  closed list: no machine translation needed);
- translated, sentence by sentence, when the document is in another language and a
  translator is configured. Every bullet keeps its citations and its original
  sentence; a translation is shown only if it passes :func:`check_translation`
  (numbers by value across languages and units against the cited paragraphs, no
  figure lost, names kept, about the right length, no added link). A bullet that
  fails is shown in the original with the reason, never silently;
- in the original with the note :data:`UNAVAILABLE` when no translator is configured.

The search snippet is not shown when a bullet already says it (:func:`snippet_repeats`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

from newsdesk.models import (
    Bullet,
    Document,
    ReaderBullet,
    ReaderSection,
    ReaderSummary,
    Summary,
)
from newsdesk.summarize.extractive import join_sentences
from newsdesk.summarize.themes import section_title
from newsdesk.summarize.verify import check_translation
from newsdesk.text import split_sentences
from newsdesk.translate import ORIGINAL, source_language

UNAVAILABLE = "machine translation unavailable — showing the original"
NOT_YET = "not translated yet — showing the original"
FAILED = "no translation (the translator failed) — showing the original"


def title_language(language: str, document: Document) -> str:
    """The language section titles are shown in: the asked one, or the document's."""
    if language == ORIGINAL:
        return "zh" if document.lang in ("zh", "mixed") else "en"
    return language


def needs_translation(document: Document, summary: Summary | None, language: str) -> bool:
    """Whether showing ``summary`` in ``language`` means translating its bullets."""
    if language == ORIGINAL or summary is None:
        return False
    return summary.language != language and document.lang != language


def sentences_of(bullet: Bullet) -> list[str]:
    """What a translator is sent for one bullet: its whole sentences, one by one."""
    return split_sentences(bullet.text, semicolons=False) or [bullet.text]


def texts_to_translate(document: Document, summary: Summary | None) -> list[str]:
    """The title and every sentence of the summary's bullets, each once."""
    texts = [document.title] if document.title else []
    if summary is not None:
        for section in summary.sections:
            for bullet in section.bullets:
                texts.extend(sentences_of(bullet))
    return list(dict.fromkeys(t for t in texts if t.strip()))


def _cited(document: Document, bullet: Bullet) -> str:
    return " ".join(p.text for n in bullet.citations if (p := document.paragraph(n)))


def _translated_bullet(
    document: Document,
    bullet: Bullet,
    translations: Mapping[str, str],
    source: str,
    target: str,
    missing: str,
) -> ReaderBullet:
    sentences = sentences_of(bullet)
    parts = [translations.get(s) for s in sentences]
    if any(p is None for p in parts):
        return ReaderBullet(bullet.text, bullet.citations, bullet.text, problem=missing)
    candidate = join_sentences([p for p in parts if p is not None])
    problem = check_translation(bullet.text, candidate, _cited(document, bullet), source, target)
    if problem:
        return ReaderBullet(bullet.text, bullet.citations, bullet.text, problem=problem)
    return ReaderBullet(candidate, bullet.citations, bullet.text, translated=True)


def read(
    document: Document,
    summary: Summary,
    language: str,
    *,
    translations: Mapping[str, str] | None = None,
    translator: tuple[str, str] | None = None,
    note: str = "",
) -> ReaderSummary:
    """Show ``summary`` of ``document`` to a reader of ``language``.

    Args:
        translations: translations of :func:`texts_to_translate` by original text
            (those there are); ``None`` when no translator is configured.
        translator: (name, model) of the translator, for the labels.
        note: what to tell the reader about the translation as a whole (why it is
            missing); defaults to :data:`UNAVAILABLE` when translation is needed and
            there is no translator.
    """
    titles = title_language(language, document)
    translate = needs_translation(document, summary, language)
    extractive = summary.summarizer != "llm"
    source, target = source_language(document.lang), language
    if translate and translations is None and not note:
        note = UNAVAILABLE
    missing = FAILED if note else NOT_YET
    sections = []
    for section in summary.sections:
        bullets = []
        for b in section.bullets:
            if translate and translations is not None:
                bullets.append(
                    _translated_bullet(document, b, translations, source, target, missing)
                )
            else:
                original = b.text if extractive else None
                bullets.append(ReaderBullet(b.text, b.citations, original))
        title = section_title(section.title, titles) or section.title
        sections.append(ReaderSection(title, tuple(bullets)))

    title, title_translated = document.title, False
    wants_title = language != ORIGINAL and document.lang != language
    if wants_title and translations is not None and document.title in translations:
        candidate = translations[document.title]
        if not check_translation(document.title, candidate, document.title, source, target):
            title, title_translated = candidate, True
    name, model = translator if translator and translations is not None else ("", "")
    used = translate or title_translated
    return ReaderSummary(
        summary=summary,
        language=language,
        sections=tuple(sections),
        title=title,
        title_original=document.title,
        title_translated=title_translated,
        translator=name if used else "",
        translator_model=model if used else "",
        note=note if translate else "",
    )


TRANSLATOR_LABELS = {"libretranslate": "LibreTranslate", "llm": "an LLM"}


def provenance(reader: ReaderSummary) -> str:
    """One line saying who made the summary and who translated what."""
    summary = reader.summary
    if summary.summarizer == "llm":
        parts = [f"LLM summary ({summary.model}, {summary.language})"]
    else:
        parts = ["Extractive summary (sentences of the article)"]
    if reader.translator:
        label = TRANSLATOR_LABELS.get(reader.translator, reader.translator)
        if reader.translator == "llm":
            label += f" ({reader.translator_model.split('@')[0]})"
        bullets = reader.bullets
        done = sum(b.translated for b in bullets)
        kept = sum(bool(b.problem) for b in bullets)
        line = f"machine-translated by {label}: {done} of {len(bullets)} bullets"
        parts.append(line + (f", {kept} shown in the original" if kept else ""))
    if reader.note:
        parts.append(reader.note)
    return " · ".join(parts)


def snippet_repeats(snippet: str, bullets: Sequence[ReaderBullet]) -> bool:
    """Whether a bullet already says most of ``snippet`` (then the snippet is not shown)."""
    core = snippet.strip().strip("…").strip()
    if len(core) < 10:
        return False
    # "Most": a common run of min(40, half the snippet) characters. Looked up as the
    # snippet's runs of that length among the bullet's (the same answer as the longest
    # common run of difflib.SequenceMatcher without junk, several times cheaper).
    k = math.ceil(min(40, 0.5 * len(core)))
    runs = {core[i : i + k] for i in range(len(core) - k + 1)}
    for bullet in bullets:
        text = bullet.original or bullet.text
        if any(text[j : j + k] in runs for j in range(len(text) - k + 1)):
            return True
    return False
