-- The schema registry: JSON Schema versions per subject `(source, type)`, numbered from 1.
CREATE TABLE schema_versions (
    source        TEXT        NOT NULL,
    type          TEXT        NOT NULL,
    version       INTEGER     NOT NULL,
    id            TEXT        NOT NULL,
    schema        JSONB       NOT NULL,
    registered_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (source, type, version)
);
-- Each subject's compatibility mode and ingest policy; a subject without a row has the
-- defaults (BACKWARD, observe).
CREATE TABLE schema_subjects (
    source     TEXT        NOT NULL,
    type       TEXT        NOT NULL,
    mode       TEXT        NOT NULL,
    policy     TEXT        NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (source, type)
);
-- How many recorded facts did not fit each schema version (counted as they are recorded).
CREATE TABLE schema_violations (
    source  TEXT    NOT NULL,
    type    TEXT    NOT NULL,
    version INTEGER NOT NULL,
    count   BIGINT  NOT NULL,
    PRIMARY KEY (source, type, version)
);
-- Facts held by the `quarantine` policy: recorded, with no outbox row until released.
CREATE TABLE quarantine (
    helios_id   TEXT        PRIMARY KEY REFERENCES facts (helios_id),
    seq         BIGINT      NOT NULL,
    source      TEXT        NOT NULL,
    type        TEXT        NOT NULL,
    held_at     TIMESTAMPTZ NOT NULL,
    reason      JSONB       NOT NULL,
    status      TEXT        NOT NULL CHECK (status IN ('held', 'released', 'dropped')),
    resolved_at TIMESTAMPTZ,
    resolved_by TEXT
);
CREATE INDEX quarantine_by_status ON quarantine (status, seq);
