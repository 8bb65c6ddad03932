"""The translation cache's rows in the SQLite file (migration 6)."""

from __future__ import annotations

from collections.abc import Sequence

from newsdesk.store import TranslationKey
from newsdesk.store.sqlite import SQLiteStore

# Hashes per query: under SQLite's limit on bound parameters.
_CHUNK = 400


class SQLiteTranslations:
    """Translation rows of one :class:`SQLiteStore`."""

    def __init__(self, store: SQLiteStore) -> None:
        self.store = store

    def get_translations(self, key: TranslationKey, hashes: Sequence[str]) -> dict[str, str]:
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
            out.update((row["text_hash"], row["translation"]) for row in rows)
        return out

    def put_translations(
        self, key: TranslationKey, rows: Sequence[tuple[str, str]], now: str
    ) -> None:
        if not rows:
            return
        with self.store.transaction() as conn:
            conn.executemany(
                "INSERT OR REPLACE INTO translations (text_hash, source, target, backend,"
                " model, translation, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                [(h, key.source, key.target, key.backend, key.model, v, now) for h, v in rows],
            )

    def count_translations(self) -> int:
        row = self.store.connection().execute("SELECT COUNT(*) FROM translations").fetchone()
        return int(row[0])
