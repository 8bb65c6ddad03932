"""The translation cache, on whichever store holds the documents.

A translation is cached by the text it translates (a SHA-256 of it), the source and
target languages and the backend and model that made it, so a sentence shared by
many documents (syndicated copies) is translated once, and changing the backend or
model translates again. What the backend answered is kept as it came; whether it is
good enough to show is decided each time it is read (the checks may improve).
The rows live behind :class:`~newsdesk.store.TranslationStore` (SQLite:
:mod:`.sqlite_translations`, PostgreSQL: :mod:`.postgres_translations`).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime

from newsdesk.store import TranslationKey, TranslationStore


def text_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:32]


class TranslationCache:
    """Cached translations by source text, for one backend, model and language pair."""

    def __init__(self, store: TranslationStore) -> None:
        self.store = store

    def get(self, key: TranslationKey, texts: Iterable[str]) -> dict[str, str]:
        """The cached translation of each of ``texts`` that has one."""
        by_hash = {text_hash(t): t for t in texts}
        found = self.store.get_translations(key, list(by_hash))
        return {by_hash[h]: translation for h, translation in found.items() if h in by_hash}

    def put(self, key: TranslationKey, translations: Mapping[str, str]) -> None:
        if not translations:
            return
        now = datetime.now(UTC).isoformat(timespec="seconds")
        rows = [(text_hash(t), v) for t, v in translations.items()]
        self.store.put_translations(key, rows, now)

    def count(self) -> int:
        return self.store.count_translations()


__all__ = ["TranslationCache", "TranslationKey", "text_hash"]
