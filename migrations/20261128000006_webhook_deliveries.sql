-- Webhook delivery state, owned by the dispatcher. Postgres holds the retry state, so a restart
-- resumes exactly where it stopped; replicas claim due messages with FOR UPDATE SKIP LOCKED.

-- The dispatcher's own view of the endpoints, folded from their event streams in the order the
-- dispatcher consumes events, so an endpoint created before an event is always routed to.
CREATE TABLE dispatch_endpoints (
    id                  uuid        PRIMARY KEY,
    organization_id     uuid        NOT NULL,
    stream_version      bigint      NOT NULL,
    document            jsonb       NOT NULL,
    enabled             boolean     NOT NULL,
    -- Health, written by deliveries: since when it fails without a success in between, and the
    -- circuit breaker that parks its backlog.
    failing_since       timestamptz,
    consecutive_failures integer    NOT NULL DEFAULT 0,
    circuit_open_until  timestamptz
);
CREATE INDEX dispatch_endpoints_org ON dispatch_endpoints (organization_id) WHERE enabled;

CREATE TABLE webhook_messages (
    -- Also the `webhook-id` header: stable across retries.
    id              uuid        PRIMARY KEY,
    organization_id uuid        NOT NULL,
    endpoint_id     uuid        NOT NULL,
    event_id        uuid        NOT NULL,
    event_type      text        NOT NULL,
    -- The exact bytes every attempt sends.
    body            text        NOT NULL,
    occurred_at     timestamptz NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    status          text        NOT NULL DEFAULT 'pending',  -- pending, delivered, failed
    attempts        integer     NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    -- A replica working on the message holds it until then; after a crash it is due again.
    leased_until    timestamptz,
    delivered_at    timestamptz,
    UNIQUE (event_id, endpoint_id, event_type)
);
CREATE INDEX webhook_messages_due ON webhook_messages (next_attempt_at) WHERE status = 'pending';
CREATE INDEX webhook_messages_endpoint ON webhook_messages (endpoint_id, created_at DESC);

CREATE TABLE webhook_attempts (
    id               bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    message_id       uuid        NOT NULL REFERENCES webhook_messages (id) ON DELETE CASCADE,
    attempted_at     timestamptz NOT NULL,
    status_code      integer,
    latency_ms       integer     NOT NULL,
    response_excerpt text,
    error            text
);
CREATE INDEX webhook_attempts_message ON webhook_attempts (message_id, id);
