-- Read models, written only by the projector (and `gangway replay`). Each row keeps the stream
-- version it reflects, so applying an event twice is a no-op and a gap is detected.

CREATE TABLE rm_organizations (
    id             uuid        PRIMARY KEY,
    name           text        NOT NULL,
    created_at     timestamptz NOT NULL,
    stream_version bigint      NOT NULL,
    document       jsonb       NOT NULL
);

CREATE TABLE rm_customers (
    id              uuid        PRIMARY KEY,
    organization_id uuid        NOT NULL,
    external_id     text,
    name            text        NOT NULL,
    created_at      timestamptz NOT NULL,
    stream_version  bigint      NOT NULL,
    document        jsonb       NOT NULL
);
CREATE INDEX rm_customers_org ON rm_customers (organization_id, created_at DESC);

CREATE TABLE rm_onboarding_links (
    id              uuid        PRIMARY KEY,
    organization_id uuid        NOT NULL,
    customer_id     uuid,
    external_id     text,
    status          text        NOT NULL,
    expires_at      timestamptz NOT NULL,
    created_at      timestamptz NOT NULL,
    stream_version  bigint      NOT NULL,
    document        jsonb       NOT NULL
);
CREATE INDEX rm_onboarding_links_org ON rm_onboarding_links (organization_id, created_at DESC, id DESC);
CREATE INDEX rm_onboarding_links_customer ON rm_onboarding_links (organization_id, customer_id);
CREATE INDEX rm_onboarding_links_external ON rm_onboarding_links (organization_id, external_id);

-- How far each projection has consumed the JetStream stream (for lag reporting and ops).
CREATE TABLE projection_checkpoints (
    name            text        PRIMARY KEY,
    stream_sequence bigint      NOT NULL,
    event_position  bigint      NOT NULL,
    updated_at      timestamptz NOT NULL DEFAULT now()
);
