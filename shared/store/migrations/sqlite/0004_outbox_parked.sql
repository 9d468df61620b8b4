-- Outbox rows the relay could not read back (an event a faulty build wrote, say), parked
-- here with the reason instead of stalling every fact recorded after them; the fact itself
-- stays in `facts`, for an operator to look at and publish again once it can be read.
CREATE TABLE outbox_parked (
    helios_id TEXT    PRIMARY KEY REFERENCES facts (helios_id),
    seq       INTEGER NOT NULL,
    parked_at TEXT NOT NULL,
    reason    TEXT    NOT NULL
);
