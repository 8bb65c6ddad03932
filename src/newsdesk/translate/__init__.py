"""Translators behind one small protocol: any OpenAI-compatible chat model used as a
translator (``llm``) or a self-hosted LibreTranslate server (``libretranslate``).

A translator turns a batch of texts into the target language and says, per text,
when it has no translation (``None``); it raises :class:`TranslationError` when the
whole batch failed. It never decides what a reader sees: every translation is checked
against the article (numbers by value, names, length) before it is shown, and the
original is shown instead, marked, when a check fails (:mod:`newsdesk.reading`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

# Language codes readers can ask for, besides "original" (the document's own).
DISPLAY_LANGUAGES = ("en", "zh")
ORIGINAL = "original"
LANGUAGE_NAMES = {"en": "English", "zh": "Simplified Chinese"}


@runtime_checkable
class Translator(Protocol):
    """Translates batches of plain texts."""

    name: str
    model: str

    def translate(self, texts: Sequence[str], source: str, target: str) -> list[str | None]:
        """One translation per text, in order; ``None`` where the backend gave none.

        Args:
            source: the texts' language (``zh``, ``en``) or ``auto``.
            target: the language to translate into.

        Raises:
            TranslationError: the batch failed (``retryable``/``unreachable`` say how).
        """
        ...

    def close(self) -> None:
        """Release connections."""
        ...


def source_language(document_lang: str) -> str:
    """The source code to send for a document's language (mixed/unknown: auto)."""
    return document_lang if document_lang in DISPLAY_LANGUAGES else "auto"


__all__ = [
    "DISPLAY_LANGUAGES",
    "LANGUAGE_NAMES",
    "ORIGINAL",
    "Translator",
    "source_language",
]
