-- State the api writes in the same transaction as the events that introduce it. These are not
-- read models: they hold credentials, secrets and uniqueness claims that must be exact at once.

-- API keys, stored as SHA-256 hashes. `prefix` is the key's first characters, used to find the
-- row; the hash is then compared in constant time.
CREATE TABLE api_keys (
    id              uuid        PRIMARY KEY,
    organization_id uuid        NOT NULL,
    prefix          text        NOT NULL,
    key_hash        bytea       NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    revoked_at      timestamptz
);
CREATE INDEX api_keys_prefix ON api_keys (prefix);

-- One customer per (organization, externalId).
CREATE TABLE customer_external_ids (
    organization_id uuid NOT NULL,
    external_id     text NOT NULL,
    customer_id     uuid NOT NULL,
    PRIMARY KEY (organization_id, external_id)
);

-- Secrets (webhook secrets, Meta tokens) encrypted with XChaCha20-Poly1305.
CREATE TABLE vault_secrets (
    id              uuid        PRIMARY KEY,
    organization_id uuid        NOT NULL,
    purpose         text        NOT NULL,
    key_id          text        NOT NULL,
    nonce           bytea       NOT NULL,
    ciphertext      bytea       NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    rotated_at      timestamptz
);
CREATE INDEX vault_secrets_key_id ON vault_secrets (key_id);
