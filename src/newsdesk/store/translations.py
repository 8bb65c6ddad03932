"""Machine translations kept in the same SQLite file as the documents.

A translation is cached by the text it translates (a SHA-256 of it), the source and
target languages and the backend and model that made it, so a sentence shared by
many documents (syndicated copies) is translated once, and changing the backend or
model translates again. What the backend answered is kept as it came; whether it is
good enough to show is decided each time it is read (the checks may improve).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

from newsdesk.store.sqlite import SQLiteStore

_CHUNK = 400


def text_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:32]


@dataclass(frozen=True, slots=True)
class TranslationKey:
    """Who translated, from and into which language."""

    source: str
    target: str
    backend: str
    model: str = ""


class TranslationCache:
    """Cached translations by source text, for one backend, model and language pair."""

    def __init__(self, store: SQLiteStore) -> None:
        self.store = store

    def get(self, key: TranslationKey, texts: Iterable[str]) -> dict[str, str]:
        """The cached translation of each of ``texts`` that has one."""
        by_hash = {text_hash(t): t for t in texts}
        hashes = list(by_hash)
        out: dict[str, str] = {}
        conn = self.store.connection()
        for i in range(0, len(hashes), _CHUNK):
            chunk = hashes[i : i + _CHUNK]
            marks = ",".join("?" * len(chunk))
            rows = conn.execute(
                "SELECT text_hash, translation FROM translations WHERE source = ?"
                f" AND target = ? AND backend = ? AND model = ? AND text_hash IN ({marks})",
                (key.source, key.target, key.backend, key.model, *chunk),
            ).fetchall()
            for row in rows:
                out[by_hash[row["text_hash"]]] = row["translation"]
        return out

    def put(self, key: TranslationKey, translations: Mapping[str, str]) -> None:
        if not translations:
            return
        now = datetime.now(UTC).isoformat(timespec="seconds")
        with self.store.transaction() as conn:
            conn.executemany(
                "INSERT OR REPLACE INTO translations (text_hash, source, target, backend,"
                " model, translation, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                [
                    (text_hash(t), key.source, key.target, key.backend, key.model, v, now)
                    for t, v in translations.items()
                ],
            )

    def count(self) -> int:
        row = self.store.connection().execute("SELECT COUNT(*) FROM translations").fetchone()
        return int(row[0])
