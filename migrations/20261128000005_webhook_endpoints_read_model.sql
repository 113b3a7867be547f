-- Webhook endpoints, written only by the projector (and `gangway replay`), like the other read
-- models: the row's document is the folded endpoint (secret references only, never secrets).

CREATE TABLE rm_webhook_endpoints (
    id              uuid        PRIMARY KEY,
    organization_id uuid        NOT NULL,
    status          text        NOT NULL,
    waba_id         uuid,
    created_at      timestamptz NOT NULL,
    stream_version  bigint      NOT NULL,
    document        jsonb       NOT NULL
);
CREATE INDEX rm_webhook_endpoints_org ON rm_webhook_endpoints (organization_id, created_at DESC, id DESC);
