-- Retention sweeps find what they delete by age: the dispatcher's finished webhook messages, and
-- the api's receipts of Meta's notifications (kept only as long as Meta may redeliver one).
CREATE INDEX webhook_messages_finished ON webhook_messages (created_at) WHERE status <> 'pending';
CREATE INDEX meta_webhook_receipts_received ON meta_webhook_receipts (received_at);
