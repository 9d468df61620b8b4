-- A fact is unique by `helios_id` alone: it is a 128-bit hash of `(source, source_id)`, so the
-- second unique index, on `(source, source_id)`, checked the same thing again, and as its keys
-- come in no order, each fact written into a large store dirtied a page of it of its own. An
-- index made by a table's UNIQUE cannot be dropped in SQLite: the table is built again without
-- it, its rows copied in `seq` order (one time; a few seconds per 100,000 facts).
--
-- The outbox tables refer to `facts`, so they are set aside first and put back after: dropping
-- a table that rows refer to would break the foreign keys.
CREATE TEMP TABLE keep_outbox AS SELECT helios_id, seq, created_at FROM outbox;
CREATE TEMP TABLE keep_outbox_parked AS SELECT helios_id, seq, parked_at, reason FROM outbox_parked;
CREATE TEMP TABLE keep_facts_sequence AS SELECT seq FROM sqlite_sequence WHERE name = 'facts';
DROP TABLE outbox;
DROP TABLE outbox_parked;

CREATE TABLE facts_unique_by_id (
    seq         INTEGER PRIMARY KEY AUTOINCREMENT,
    helios_id   TEXT    NOT NULL UNIQUE,
    source      TEXT    NOT NULL,
    source_id   TEXT    NOT NULL,
    type        TEXT    NOT NULL,
    subject     TEXT,
    -- RFC 3339, UTC, always six fraction digits: text order is time order.
    time        TEXT    NOT NULL,
    received_at TEXT    NOT NULL,
    event       TEXT    NOT NULL,
    raw_key     TEXT    NOT NULL,
    raw_index   INTEGER NOT NULL
);
INSERT INTO facts_unique_by_id (seq, helios_id, source, source_id, type, subject, time, received_at, event, raw_key, raw_index)
    SELECT seq, helios_id, source, source_id, type, subject, time, received_at, event, raw_key, raw_index
    FROM facts ORDER BY seq;
DROP TABLE facts;
ALTER TABLE facts_unique_by_id RENAME TO facts;
-- AUTOINCREMENT never gives a `seq` again, even that of a fact no longer stored.
UPDATE sqlite_sequence SET seq = MAX(seq, COALESCE((SELECT seq FROM keep_facts_sequence), 0))
    WHERE name = 'facts';
CREATE INDEX facts_by_source ON facts (source, seq);
CREATE INDEX facts_by_type ON facts (type, seq);
CREATE INDEX facts_by_time ON facts (time);

CREATE TABLE outbox (
    helios_id  TEXT PRIMARY KEY REFERENCES facts (helios_id),
    seq        INTEGER NOT NULL,
    created_at TEXT    NOT NULL
);
CREATE INDEX outbox_by_seq ON outbox (seq);
INSERT INTO outbox (helios_id, seq, created_at) SELECT helios_id, seq, created_at FROM keep_outbox;
CREATE TABLE outbox_parked (
    helios_id TEXT    PRIMARY KEY REFERENCES facts (helios_id),
    seq       INTEGER NOT NULL,
    parked_at TEXT NOT NULL,
    reason    TEXT    NOT NULL
);
INSERT INTO outbox_parked (helios_id, seq, parked_at, reason)
    SELECT helios_id, seq, parked_at, reason FROM keep_outbox_parked;
DROP TABLE keep_outbox;
DROP TABLE keep_outbox_parked;
DROP TABLE keep_facts_sequence;
