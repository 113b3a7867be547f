-- Events a JetStream consumer (the projector, the dispatcher) could not process within its
-- delivery limit (`held = false`), and the later events of the same stream waiting behind them
-- (`held = true`), so that a stream is never applied out of order and nothing is dropped. A row
-- stays unresolved until an operator's retry (`gangway dead-letters retry`) processes it.
CREATE TABLE dead_letters (
    id                 bigserial   PRIMARY KEY,
    consumer           text        NOT NULL,
    event_id           uuid        NOT NULL,
    stream_id          uuid        NOT NULL,
    stream_version     bigint      NOT NULL,
    event_type         text        NOT NULL,
    organization_id    uuid        NOT NULL,
    held               boolean     NOT NULL,
    error              text,
    deliveries         bigint      NOT NULL DEFAULT 0,
    created_at         timestamptz NOT NULL DEFAULT now(),
    retry_requested_at timestamptz,
    resolved_at        timestamptz,
    UNIQUE (consumer, event_id)
);
CREATE INDEX dead_letters_unresolved ON dead_letters (consumer, stream_id, stream_version)
    WHERE resolved_at IS NULL;
