-- Outcomes: what a decision's workflow did, written by the `record` task, once per
-- (decision, execution, kind).
CREATE TABLE outcomes (
    seq         BIGSERIAL   PRIMARY KEY,
    decision_id TEXT        NOT NULL,
    execution   TEXT        NOT NULL,
    kind        TEXT        NOT NULL,
    recorded_at TIMESTAMPTZ NOT NULL,
    body        JSON        NOT NULL,
    UNIQUE (decision_id, execution, kind)
);
CREATE INDEX outcomes_by_decision ON outcomes (decision_id, seq);
