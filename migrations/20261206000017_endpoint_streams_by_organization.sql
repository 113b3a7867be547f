-- Relayed WhatsApp messages reach the dispatcher on their own stream, not in commit order with
-- the endpoint events; before routing them it checks an organization's endpoint streams in the
-- store. Endpoint events are few, so this index stays small.
CREATE INDEX events_webhook_endpoints_by_organization ON events (organization_id, stream_id, stream_version)
    WHERE stream_type = 'webhook_endpoint';
