"""The translation cache's rows in PostgreSQL (migration 4), shared by every server.

Writes do not take the document-writes lock: a translation is keyed by what it
translates, so two servers caching the same sentence at once simply agree (an
upsert; the later answer wins).
"""

from __future__ import annotations

from collections.abc import Sequence

from newsdesk.store import TranslationKey
from newsdesk.store.postgres import PostgresStore, clean_text


def _key(key: TranslationKey) -> tuple[str, str, str, str]:
    return (
        clean_text(key.source),
        clean_text(key.target),
        clean_text(key.backend),
        clean_text(key.model),
    )


class PostgresTranslations:
    """Translation rows of one :class:`PostgresStore`."""

    def __init__(self, store: PostgresStore) -> None:
        self.store = store

    def get_translations(self, key: TranslationKey, hashes: Sequence[str]) -> dict[str, str]:
        if not hashes:
            return {}
        with self.store.session() as conn:
            rows = conn.execute(
                "SELECT text_hash, translation FROM translations WHERE source = %s"
                " AND target = %s AND backend = %s AND model = %s AND text_hash = ANY(%s)",
                (*_key(key), list(hashes)),
            ).fetchall()
        return {row["text_hash"]: row["translation"] for row in rows}

    def put_translations(
        self, key: TranslationKey, rows: Sequence[tuple[str, str]], now: str
    ) -> None:
        if not rows:
            return
        # One row per hash: ON CONFLICT cannot touch the same row twice in a statement.
        latest = dict(rows)
        with self.store.write() as conn, conn.cursor() as cur:
            cur.executemany(
                "INSERT INTO translations (text_hash, source, target, backend, model,"
                " translation, created_at) VALUES (%s, %s, %s, %s, %s, %s, %s)"
                " ON CONFLICT (text_hash, source, target, backend, model) DO UPDATE"
                " SET translation = EXCLUDED.translation, created_at = EXCLUDED.created_at",
                [(h, *_key(key), clean_text(v), now) for h, v in latest.items()],
            )

    def count_translations(self) -> int:
        with self.store.session() as conn:
            row = conn.execute("SELECT COUNT(*) AS n FROM translations").fetchone()
        return int(row["n"]) if row else 0
