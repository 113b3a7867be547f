-- The dispatcher's claim walks the endpoints with pending messages and takes each one's oldest
-- due messages, up to its free cap; this index serves both steps, so a claim costs what it takes
-- rather than a pass over the whole due backlog.
CREATE INDEX webhook_messages_pending_by_endpoint
    ON webhook_messages (endpoint_id, next_attempt_at) WHERE status = 'pending';

-- The claim's only user of the index by due time; with it, the planner took a scan in due-time
-- order filtered by endpoint (cheap on paper, a pass over the backlog in practice).
DROP INDEX webhook_messages_due;
