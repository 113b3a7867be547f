-- Console sign-ins: a session cookie's token (only its SHA-256 is kept) for the API key it was
-- exchanged for. A session lives while its key does: revoking the key ends its sessions.
CREATE TABLE console_sessions (
    token_hash bytea PRIMARY KEY,
    organization_id uuid NOT NULL,
    api_key_id uuid NOT NULL REFERENCES api_keys (id) ON DELETE CASCADE,
    -- Sent back with every form the session's pages render, and checked on every POST.
    csrf_token text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz NOT NULL
);

CREATE INDEX console_sessions_expires_at ON console_sessions (expires_at);

-- Operator console sign-ins with the admin token. The token's SHA-256 is kept with the session:
-- a session lives only while the deployment's admin token is the one it was opened with.
CREATE TABLE ops_sessions (
    token_hash bytea PRIMARY KEY,
    admin_token_hash bytea NOT NULL,
    csrf_token text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz NOT NULL
);

CREATE INDEX ops_sessions_expires_at ON ops_sessions (expires_at);
