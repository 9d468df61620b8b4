-- A fact is unique by `helios_id` alone: it is a 128-bit hash of `(source, source_id)`, so the
-- second unique index, on `(source, source_id)`, checked the same thing again, and as its keys
-- come in no order, each fact written into a large store dirtied a page of it of its own.
ALTER TABLE facts DROP CONSTRAINT IF EXISTS facts_source_source_id_key;
