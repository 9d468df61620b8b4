-- Facts: one row per canonical event, unique by (source, source_id), the idempotency key.
CREATE TABLE facts (
    seq         BIGSERIAL PRIMARY KEY,
    helios_id   TEXT        NOT NULL UNIQUE,
    source      TEXT        NOT NULL,
    source_id   TEXT        NOT NULL,
    type        TEXT        NOT NULL,
    subject     TEXT,
    time        TIMESTAMPTZ NOT NULL,
    received_at TIMESTAMPTZ NOT NULL,
    -- json, not jsonb: the event is kept exactly as normalised, key order included.
    event       JSON        NOT NULL,
    raw_key     TEXT        NOT NULL,
    raw_index   INTEGER     NOT NULL,
    UNIQUE (source, source_id)
);
CREATE INDEX facts_by_source ON facts (source, seq);
CREATE INDEX facts_by_type ON facts (type, seq);
CREATE INDEX facts_by_time ON facts (time);

-- Transactional outbox: facts stored but not yet known to be published.
CREATE TABLE outbox (
    helios_id  TEXT PRIMARY KEY REFERENCES facts (helios_id),
    seq        BIGINT      NOT NULL,
    created_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX outbox_by_seq ON outbox (seq);

-- API keys, stored as SHA-256 hashes of the key.
CREATE TABLE api_keys (
    id              TEXT PRIMARY KEY,
    name            TEXT        NOT NULL,
    role            TEXT        NOT NULL CHECK (role IN ('ingest', 'read', 'admin')),
    hash            TEXT        NOT NULL UNIQUE,
    rate_per_second INTEGER,
    created_at      TIMESTAMPTZ NOT NULL,
    revoked_at      TIMESTAMPTZ
);
