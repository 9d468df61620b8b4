-- The sources an API key may speak for: a JSON array of patterns (`ci/buildkite`, or
-- `ci/*` for a prefix); NULL for every source that no hook and not Helios owns.
ALTER TABLE api_keys ADD COLUMN sources TEXT;
