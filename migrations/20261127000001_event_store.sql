-- The event store: the source of truth. Append-only.
CREATE TABLE events (
    -- Global position: unique and increasing in insertion order, but NOT commit order under
    -- concurrent transactions. Readers that need commit order use (transaction_id, position).
    position        bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    -- The appending transaction. The relay only reads transactions older than every transaction
    -- still running (pg_snapshot_xmin), so a late commit can never be skipped.
    transaction_id  xid8        NOT NULL DEFAULT pg_current_xact_id(),
    event_id        uuid        NOT NULL,
    stream_type     text        NOT NULL,
    stream_id       uuid        NOT NULL,
    stream_version  bigint      NOT NULL CHECK (stream_version > 0),
    event_type      text        NOT NULL,
    schema_version  smallint    NOT NULL DEFAULT 1,
    payload         jsonb       NOT NULL,
    organization_id uuid        NOT NULL,
    causation_id    uuid,
    correlation_id  uuid        NOT NULL,
    occurred_at     timestamptz NOT NULL,
    recorded_at     timestamptz NOT NULL DEFAULT clock_timestamp(),
    CONSTRAINT events_event_id_unique UNIQUE (event_id),
    CONSTRAINT events_stream_version_unique UNIQUE (stream_id, stream_version)
);

CREATE INDEX events_commit_order ON events (transaction_id, position);

-- Where each relay has published up to, in commit order.
CREATE TABLE relay_checkpoints (
    name           text        PRIMARY KEY,
    transaction_id xid8        NOT NULL,
    position       bigint      NOT NULL,
    updated_at     timestamptz NOT NULL DEFAULT now()
);
