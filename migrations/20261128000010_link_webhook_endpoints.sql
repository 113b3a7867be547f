-- The endpoint a link's webhookUrl registered, per organization, WABA and URL. A later link with
-- the same URL that connects another number of that WABA, or reconnects one, reuses it instead of
-- adding a second endpoint that would deliver every event to the same URL again.
CREATE TABLE link_webhook_endpoints (
    organization_id uuid NOT NULL,
    waba_id         uuid NOT NULL,
    url             text NOT NULL,
    endpoint_id     uuid NOT NULL,
    PRIMARY KEY (organization_id, waba_id, url)
);
-- Endpoints links registered before this table existed (as far as the read model has them): the
-- newest enabled one per key. Endpoints already duplicated stay as they are.
INSERT INTO link_webhook_endpoints (organization_id, waba_id, url, endpoint_id)
SELECT DISTINCT ON (organization_id, waba_id, document->>'url')
       organization_id, waba_id, document->>'url', id
  FROM rm_webhook_endpoints
 WHERE document->>'registeredByLink' IS NOT NULL AND waba_id IS NOT NULL AND status = 'enabled'
 ORDER BY organization_id, waba_id, document->>'url', created_at DESC
ON CONFLICT DO NOTHING;
