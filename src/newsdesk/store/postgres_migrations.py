"""PostgreSQL schema migrations, applied in order; ``newsdesk_schema`` records the last one.

The tables and columns mirror the SQLite store's (:mod:`newsdesk.store.migrations`)
so both give the same JSON; times the workers compare (leases, schedules) are
``timestamptz`` on the server's clock, which every machine shares.
"""

from __future__ import annotations

MIGRATIONS: tuple[str, ...] = (
    # 1: documents, paragraphs, summaries and their failures, near-duplicate bands,
    # index watermarks, feeds, embeddings (SQLite migrations 1-4).
    """
    CREATE SEQUENCE document_revs;

    CREATE TABLE documents (
        id            TEXT PRIMARY KEY,
        rev           BIGINT NOT NULL UNIQUE,
        url           TEXT NOT NULL DEFAULT '',
        title         TEXT NOT NULL,
        source        TEXT NOT NULL DEFAULT '',
        published_at  TEXT,
        published_ts  BIGINT,
        lang          TEXT NOT NULL DEFAULT '',
        category      TEXT NOT NULL DEFAULT '',
        content_hash  TEXT NOT NULL,
        story_id      TEXT NOT NULL,
        minhash       BYTEA,
        origin        TEXT NOT NULL DEFAULT '',
        ingested_at   TEXT NOT NULL
    );
    CREATE INDEX documents_hash ON documents(content_hash);
    CREATE INDEX documents_url ON documents(url) WHERE url <> '';
    CREATE INDEX documents_story ON documents(story_id);
    CREATE INDEX documents_published ON documents(published_ts);

    CREATE TABLE paragraphs (
        doc_id  TEXT NOT NULL REFERENCES documents(id) ON DELETE CASCADE,
        n       INTEGER NOT NULL,
        text    TEXT NOT NULL,
        PRIMARY KEY (doc_id, n)
    );

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
    );

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
    );

    CREATE TABLE lsh_bands (
        band    INTEGER NOT NULL,
        key     BIGINT NOT NULL,
        doc_id  TEXT NOT NULL REFERENCES documents(id) ON DELETE CASCADE,
        PRIMARY KEY (band, key, doc_id)
    );
    CREATE INDEX lsh_bands_doc ON lsh_bands(doc_id);

    CREATE TABLE index_state (
        name    TEXT PRIMARY KEY,
        rev     BIGINT NOT NULL,
        params  TEXT NOT NULL DEFAULT '{}'
    );

    CREATE TABLE feeds (
        seq            BIGSERIAL UNIQUE,
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

    CREATE TABLE embeddings (
        doc_id  TEXT PRIMARY KEY REFERENCES documents(id) ON DELETE CASCADE,
        rev     BIGINT NOT NULL,
        vector  BYTEA NOT NULL
    );
    CREATE INDEX embeddings_rev ON embeddings(rev);
    """,
    # 2: documents deleted on request (SQLite migration 5); ``rev`` is the deleted
    # document's last revision, ``index_pending`` for a lexical index shared by all.
    """
    CREATE TABLE deletions (
        seq            BIGSERIAL PRIMARY KEY,
        doc_id         TEXT NOT NULL,
        rev            BIGINT NOT NULL DEFAULT 0,
        title          TEXT NOT NULL DEFAULT '',
        url            TEXT NOT NULL DEFAULT '',
        content_hash   TEXT NOT NULL DEFAULT '',
        deleted_at     TEXT NOT NULL,
        index_pending  BOOLEAN NOT NULL DEFAULT TRUE
    );
    CREATE INDEX deletions_doc ON deletions(doc_id);
    CREATE INDEX deletions_rev ON deletions(rev);
    CREATE INDEX deletions_pending ON deletions(index_pending) WHERE index_pending;
    """,
    # 3: work for `newsdesk worker` (SQLite migration 7): feed schedules and leases,
    # the job queue, the workers, and the inputs they could not ingest.
    """
    ALTER TABLE feeds ADD COLUMN next_poll_at TIMESTAMPTZ;
    ALTER TABLE feeds ADD COLUMN lease_owner TEXT NOT NULL DEFAULT '';
    ALTER TABLE feeds ADD COLUMN lease_expires TIMESTAMPTZ;

    CREATE TABLE jobs (
        id             BIGSERIAL PRIMARY KEY,
        kind           TEXT NOT NULL,
        target         TEXT NOT NULL,
        state          TEXT NOT NULL DEFAULT 'queued',
        attempts       INTEGER NOT NULL DEFAULT 0,
        max_attempts   INTEGER NOT NULL DEFAULT 5,
        created_at     TIMESTAMPTZ NOT NULL DEFAULT now(),
        not_before     TIMESTAMPTZ NOT NULL DEFAULT now(),
        started_at     TIMESTAMPTZ,
        finished_at    TIMESTAMPTZ,
        lease_owner    TEXT NOT NULL DEFAULT '',
        lease_expires  TIMESTAMPTZ,
        counts         TEXT NOT NULL DEFAULT '{}',
        error          TEXT NOT NULL DEFAULT ''
    );
    CREATE UNIQUE INDEX jobs_open ON jobs(kind, target) WHERE state IN ('queued', 'running');
    CREATE INDEX jobs_due ON jobs(state, not_before);

    CREATE TABLE workers (
        id            TEXT PRIMARY KEY,
        host          TEXT NOT NULL,
        pid           INTEGER NOT NULL,
        started_at    TIMESTAMPTZ NOT NULL DEFAULT now(),
        heartbeat_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
        state         TEXT NOT NULL DEFAULT 'running',
        current       TEXT NOT NULL DEFAULT '',
        jobs_done     BIGINT NOT NULL DEFAULT 0,
        feeds_polled  BIGINT NOT NULL DEFAULT 0,
        documents     BIGINT NOT NULL DEFAULT 0,
        errors        BIGINT NOT NULL DEFAULT 0
    );

    CREATE TABLE input_failures (
        id       BIGSERIAL PRIMARY KEY,
        source   TEXT NOT NULL,
        origin   TEXT NOT NULL,
        outcome  TEXT NOT NULL,
        reason   TEXT NOT NULL,
        at       TIMESTAMPTZ NOT NULL DEFAULT now()
    );
    """,
    # 4: machine translations of summary sentences and titles (SQLite migration 6),
    # cached by a hash of the text and by who translated it into which language.
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
    );
    """,
    # 5: stories merged across languages (SQLite migration 8).
    """
    CREATE TABLE story_links (
        doc_a      TEXT NOT NULL REFERENCES documents(id) ON DELETE CASCADE,
        doc_b      TEXT NOT NULL REFERENCES documents(id) ON DELETE CASCADE,
        evidence   TEXT NOT NULL DEFAULT '',
        linked_at  TEXT NOT NULL,
        PRIMARY KEY (doc_a, doc_b)
    );
    CREATE INDEX story_links_b ON story_links(doc_b);

    -- Documents stored before this version are not paired by the next ingest (on a
    -- large home that would take hours on its critical path): pairing starts after
    -- them. A new home starts at 0.
    INSERT INTO index_state (name, rev, params)
    SELECT 'crosslingual_from', COALESCE(MAX(rev), 0), '{}' FROM documents;
    """,
)
