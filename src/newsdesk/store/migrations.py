"""SQLite schema migrations, applied in order; ``PRAGMA user_version`` records the last one.

The PostgreSQL store has its own list (:mod:`newsdesk.store.postgres_migrations`)
that reaches the same tables and contracts.
"""

from __future__ import annotations

MIGRATIONS: tuple[str, ...] = (
    # 1: documents, paragraphs, summaries, near-duplicate bands, index watermarks.
    """
    CREATE TABLE documents (
        id            TEXT PRIMARY KEY,
        rev           INTEGER NOT NULL,
        url           TEXT NOT NULL DEFAULT '',
        title         TEXT NOT NULL,
        source        TEXT NOT NULL DEFAULT '',
        published_at  TEXT,
        published_ts  INTEGER,
        lang          TEXT NOT NULL DEFAULT '',
        category      TEXT NOT NULL DEFAULT '',
        content_hash  TEXT NOT NULL,
        story_id      TEXT NOT NULL,
        minhash       BLOB,
        origin        TEXT NOT NULL DEFAULT '',
        ingested_at   TEXT NOT NULL
    );
    CREATE UNIQUE INDEX documents_rev ON documents(rev);
    CREATE INDEX documents_hash ON documents(content_hash);
    CREATE INDEX documents_url ON documents(url) WHERE url != '';
    CREATE INDEX documents_story ON documents(story_id);
    CREATE INDEX documents_published ON documents(published_ts);

    CREATE TABLE paragraphs (
        doc_id  TEXT NOT NULL REFERENCES documents(id) ON DELETE CASCADE,
        n       INTEGER NOT NULL,
        text    TEXT NOT NULL,
        PRIMARY KEY (doc_id, n)
    ) WITHOUT ROWID;

    CREATE TABLE summaries (
        doc_id          TEXT NOT NULL REFERENCES documents(id) ON DELETE CASCADE,
        summarizer      TEXT NOT NULL,
        language        TEXT NOT NULL,
        model           TEXT NOT NULL DEFAULT '',
        prompt_version  TEXT NOT NULL DEFAULT '',
        content_hash    TEXT NOT NULL,
        payload         TEXT NOT NULL,
        created_at      TEXT NOT NULL,
        PRIMARY KEY (doc_id, summarizer, language)
    ) WITHOUT ROWID;

    CREATE TABLE lsh_bands (
        band    INTEGER NOT NULL,
        key     INTEGER NOT NULL,
        doc_id  TEXT NOT NULL REFERENCES documents(id) ON DELETE CASCADE,
        PRIMARY KEY (band, key, doc_id)
    ) WITHOUT ROWID;
    CREATE INDEX lsh_bands_doc ON lsh_bands(doc_id);

    CREATE TABLE index_state (
        name    TEXT PRIMARY KEY,
        rev     INTEGER NOT NULL,
        params  TEXT NOT NULL DEFAULT '{}'
    );
    """,
    # 2: why a summarizer failed on a document (the document keeps its other summaries).
    """
    CREATE TABLE summary_errors (
        doc_id          TEXT NOT NULL REFERENCES documents(id) ON DELETE CASCADE,
        summarizer      TEXT NOT NULL,
        language        TEXT NOT NULL,
        model           TEXT NOT NULL DEFAULT '',
        prompt_version  TEXT NOT NULL DEFAULT '',
        content_hash    TEXT NOT NULL,
        error           TEXT NOT NULL,
        created_at      TEXT NOT NULL,
        PRIMARY KEY (doc_id, summarizer, language)
    ) WITHOUT ROWID;
    """,
    # 3: feeds being followed, with their conditional-request and error state.
    """
    CREATE TABLE feeds (
        url            TEXT PRIMARY KEY,
        title          TEXT NOT NULL DEFAULT '',
        kind           TEXT NOT NULL DEFAULT '',
        etag           TEXT NOT NULL DEFAULT '',
        last_modified  TEXT NOT NULL DEFAULT '',
        added_at       TEXT NOT NULL,
        last_polled    TEXT,
        last_ok        TEXT,
        last_status    TEXT NOT NULL DEFAULT '',
        items_seen     INTEGER NOT NULL DEFAULT 0,
        accepted       INTEGER NOT NULL DEFAULT 0,
        error_count    INTEGER NOT NULL DEFAULT 0,
        last_error     TEXT NOT NULL DEFAULT ''
    );
    """,
    # 4: document embeddings for the vector index. Stored beside the documents so that
    # vectors and the watermark move in one transaction, and a rebuild of the in-memory
    # index never re-embeds; ``rev`` is the document revision the vector was made from.
    """
    CREATE TABLE embeddings (
        doc_id  TEXT PRIMARY KEY REFERENCES documents(id) ON DELETE CASCADE,
        rev     INTEGER NOT NULL,
        vector  BLOB NOT NULL
    );
    CREATE INDEX embeddings_rev ON embeddings(rev);
    """,
    # 5: documents deleted on request, kept as a record the user can list. A deletion
    # the lexical index has not applied yet (another process held its writer, or a
    # crash) is pending until an index catch-up applies it.
    """
    -- ``rev`` is the deleted document's last revision: revisions keep growing past it,
    -- so a document stored again is newer than every index watermark.
    CREATE TABLE deletions (
        seq            INTEGER PRIMARY KEY AUTOINCREMENT,
        doc_id         TEXT NOT NULL,
        rev            INTEGER NOT NULL DEFAULT 0,
        title          TEXT NOT NULL DEFAULT '',
        url            TEXT NOT NULL DEFAULT '',
        content_hash   TEXT NOT NULL DEFAULT '',
        deleted_at     TEXT NOT NULL,
        index_pending  INTEGER NOT NULL DEFAULT 1
    );
    CREATE INDEX deletions_doc ON deletions(doc_id);
    CREATE INDEX deletions_rev ON deletions(rev);
    CREATE INDEX deletions_pending ON deletions(index_pending) WHERE index_pending = 1;
    """,
    # 6: machine translations of summary sentences and titles, cached by what was
    # translated (a hash of the text) and by whom (backend, model) into which language.
    """
    CREATE TABLE translations (
        text_hash    TEXT NOT NULL,
        source       TEXT NOT NULL,
        target       TEXT NOT NULL,
        backend      TEXT NOT NULL,
        model        TEXT NOT NULL DEFAULT '',
        translation  TEXT NOT NULL,
        created_at   TEXT NOT NULL,
        PRIMARY KEY (text_hash, source, target, backend, model)
    ) WITHOUT ROWID;
    """,
    # 7: work for `newsdesk worker`: feed schedules and leases, the job queue, the
    # workers, and the inputs they could not ingest.
    """
    ALTER TABLE feeds ADD COLUMN next_poll_at TEXT;
    ALTER TABLE feeds ADD COLUMN lease_owner TEXT NOT NULL DEFAULT '';
    ALTER TABLE feeds ADD COLUMN lease_expires TEXT;

    CREATE TABLE jobs (
        id             INTEGER PRIMARY KEY AUTOINCREMENT,
        kind           TEXT NOT NULL,
        target         TEXT NOT NULL,
        state          TEXT NOT NULL DEFAULT 'queued',
        attempts       INTEGER NOT NULL DEFAULT 0,
        max_attempts   INTEGER NOT NULL DEFAULT 5,
        created_at     TEXT NOT NULL,
        not_before     TEXT NOT NULL,
        started_at     TEXT,
        finished_at    TEXT,
        lease_owner    TEXT NOT NULL DEFAULT '',
        lease_expires  TEXT,
        counts         TEXT NOT NULL DEFAULT '{}',
        error          TEXT NOT NULL DEFAULT ''
    );
    CREATE UNIQUE INDEX jobs_open ON jobs(kind, target) WHERE state IN ('queued', 'running');
    CREATE INDEX jobs_due ON jobs(state, not_before);

    CREATE TABLE workers (
        id            TEXT PRIMARY KEY,
        host          TEXT NOT NULL,
        pid           INTEGER NOT NULL,
        started_at    TEXT NOT NULL,
        heartbeat_at  TEXT NOT NULL,
        state         TEXT NOT NULL DEFAULT 'running',
        current       TEXT NOT NULL DEFAULT '',
        jobs_done     INTEGER NOT NULL DEFAULT 0,
        feeds_polled  INTEGER NOT NULL DEFAULT 0,
        documents     INTEGER NOT NULL DEFAULT 0,
        errors        INTEGER NOT NULL DEFAULT 0
    );

    CREATE TABLE input_failures (
        id       INTEGER PRIMARY KEY AUTOINCREMENT,
        source   TEXT NOT NULL,
        origin   TEXT NOT NULL,
        outcome  TEXT NOT NULL,
        reason   TEXT NOT NULL,
        at       TEXT NOT NULL
    );
    """,
    # 8: stories merged across languages (a Chinese document and its English version),
    # recorded so that a merge is made once and can be explained.
    """
    CREATE TABLE story_links (
        doc_a      TEXT NOT NULL REFERENCES documents(id) ON DELETE CASCADE,
        doc_b      TEXT NOT NULL REFERENCES documents(id) ON DELETE CASCADE,
        evidence   TEXT NOT NULL DEFAULT '',
        linked_at  TEXT NOT NULL,
        PRIMARY KEY (doc_a, doc_b)
    ) WITHOUT ROWID;
    CREATE INDEX story_links_b ON story_links(doc_b);

    -- Documents stored before this version are not paired by the next ingest (on a
    -- large home that would take hours on its critical path): pairing starts after
    -- them. A new home starts at 0.
    INSERT INTO index_state (name, rev, params)
    SELECT 'crosslingual_from', COALESCE(MAX(rev), 0), '{}' FROM documents;
    """,
)
