-- A running `gangway replay` reports here (from a connection of its own, once a second), so that
-- `gangway status` can show its progress while the replay's own transaction is still open.
CREATE TABLE replay_progress (
    name        text        PRIMARY KEY,
    started_at  timestamptz NOT NULL,
    applied     bigint      NOT NULL,
    total       bigint      NOT NULL,
    updated_at  timestamptz NOT NULL,
    finished_at timestamptz
);
