-- Idempotency-Key: a request's key, claimed in the transaction of the command it runs, and the
-- answer it got (sealed in the vault: an answer may hold a secret, such as a new API key).
CREATE TABLE idempotency_keys (
    organization_id uuid NOT NULL,
    key text NOT NULL,
    -- SHA-256 of the method, the path and the body: the same key with another request is refused.
    request_hash bytea NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    -- NULL until the answer is stored, right after the command's commit.
    status smallint,
    response_ref uuid,
    PRIMARY KEY (organization_id, key)
);

CREATE INDEX idempotency_keys_created_at ON idempotency_keys (created_at);
