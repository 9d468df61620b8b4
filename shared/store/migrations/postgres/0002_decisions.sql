-- Decisions: one per (event, rule-set content), the idempotency key of `decide`; a redelivered
-- event decided by the same rules stores nothing new.
CREATE TABLE decisions (
    seq          BIGSERIAL PRIMARY KEY,
    id           TEXT             NOT NULL UNIQUE,
    event_id     TEXT             NOT NULL,
    ruleset      TEXT             NOT NULL,
    ruleset_hash TEXT             NOT NULL,
    subject      TEXT,
    severity     TEXT,
    score        DOUBLE PRECISION NOT NULL,
    -- The fired rules as ",a,b," so that one rule is found with LIKE '%,a,%'.
    rules        TEXT             NOT NULL,
    decided_at   TIMESTAMPTZ      NOT NULL,
    -- json, not jsonb: the decision is kept as decided, key order included.
    body         JSON             NOT NULL,
    UNIQUE (event_id, ruleset_hash)
);
CREATE INDEX decisions_by_subject ON decisions (subject, seq);
CREATE INDEX decisions_by_time ON decisions (decided_at);
