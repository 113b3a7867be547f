-- API keys get a name people recognise them by and the time they were last used; an
-- organization lists its keys.
ALTER TABLE api_keys ADD COLUMN name text NOT NULL DEFAULT 'default';
ALTER TABLE api_keys ADD COLUMN last_used_at timestamptz;
CREATE INDEX api_keys_organization ON api_keys (organization_id, created_at);
