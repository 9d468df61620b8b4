-- Outcomes: what a decision's workflow did, written by the `record` task, once per
-- (decision, execution, kind).
CREATE TABLE outcomes (
    seq         INTEGER PRIMARY KEY AUTOINCREMENT,
    decision_id TEXT    NOT NULL,
    execution   TEXT    NOT NULL,
    kind        TEXT    NOT NULL,
    -- RFC 3339, UTC, six fraction digits.
    recorded_at TEXT    NOT NULL,
    body        TEXT    NOT NULL,
    UNIQUE (decision_id, execution, kind)
);
CREATE INDEX outcomes_by_decision ON outcomes (decision_id, seq);
