-- Decisions: one per (event, rule-set content), the idempotency key of `decide`; a redelivered
-- event decided by the same rules stores nothing new.
CREATE TABLE decisions (
    seq          INTEGER PRIMARY KEY AUTOINCREMENT,
    id           TEXT    NOT NULL UNIQUE,
    event_id     TEXT    NOT NULL,
    ruleset      TEXT    NOT NULL,
    ruleset_hash TEXT    NOT NULL,
    subject      TEXT,
    severity     TEXT,
    score        REAL    NOT NULL,
    -- The fired rules as ",a,b," so that one rule is found with LIKE '%,a,%'.
    rules        TEXT    NOT NULL,
    -- RFC 3339, UTC, six fraction digits: text order is time order.
    decided_at   TEXT    NOT NULL,
    body         TEXT    NOT NULL,
    UNIQUE (event_id, ruleset_hash)
);
CREATE INDEX decisions_by_subject ON decisions (subject, seq);
CREATE INDEX decisions_by_time ON decisions (decided_at);
