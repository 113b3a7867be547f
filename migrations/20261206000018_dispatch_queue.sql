-- The dispatcher's queue of endpoints: for each endpoint with pending messages, the earliest time
-- one of them may be claimable. A claim visits only endpoints whose time has come, oldest first,
-- instead of walking every endpoint with a pending message; its cost follows the endpoints it
-- serves, not the size of the backlog.
--
-- `due_at` may be early, never late: a claim that finds nothing due moves it on to the endpoint's
-- next retry or lease expiry ('infinity' when nothing is pending), and every write that makes a
-- message claimable (a message recorded, a retry scheduled, a message retried by hand) pulls it
-- back through the triggers below, so no writer has to remember the queue. A claim locks the rows
-- it visits before it looks at their messages, so a pull it did not see waits for it and lands
-- after it.
CREATE TABLE dispatch_queue (
    endpoint_id uuid        PRIMARY KEY,
    due_at      timestamptz NOT NULL
);
CREATE INDEX dispatch_queue_due ON dispatch_queue (due_at);

INSERT INTO dispatch_queue (endpoint_id, due_at)
SELECT endpoint_id, min(GREATEST(next_attempt_at, leased_until))
FROM webhook_messages WHERE status = 'pending' GROUP BY endpoint_id;

-- Recorded messages are claimable when due, or when the lease ingest gave them runs out.
CREATE FUNCTION dispatch_queue_recorded() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO dispatch_queue AS q (endpoint_id, due_at)
    SELECT endpoint_id, min(GREATEST(next_attempt_at, leased_until))
    FROM recorded WHERE status = 'pending' GROUP BY endpoint_id ORDER BY endpoint_id
    ON CONFLICT (endpoint_id) DO UPDATE SET due_at = LEAST(q.due_at, excluded.due_at)
        WHERE excluded.due_at < q.due_at;
    RETURN NULL;
END $$;

-- Updated messages are claimable when pending and not leased: a retry scheduled by the recorder,
-- a message retried or recovered by hand. A claim's own lease is left out; the claim keeps the
-- queue for the messages it leases.
CREATE FUNCTION dispatch_queue_updated() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO dispatch_queue AS q (endpoint_id, due_at)
    SELECT endpoint_id, min(next_attempt_at)
    FROM updated WHERE status = 'pending' AND leased_until IS NULL
    GROUP BY endpoint_id ORDER BY endpoint_id
    ON CONFLICT (endpoint_id) DO UPDATE SET due_at = LEAST(q.due_at, excluded.due_at)
        WHERE excluded.due_at < q.due_at;
    RETURN NULL;
END $$;

CREATE TRIGGER webhook_messages_recorded AFTER INSERT ON webhook_messages
    REFERENCING NEW TABLE AS recorded FOR EACH STATEMENT EXECUTE FUNCTION dispatch_queue_recorded();
CREATE TRIGGER webhook_messages_updated AFTER UPDATE ON webhook_messages
    REFERENCING NEW TABLE AS updated FOR EACH STATEMENT EXECUTE FUNCTION dispatch_queue_updated();
