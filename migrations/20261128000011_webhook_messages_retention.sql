-- The dispatcher's retention sweep finds finished messages by age.
CREATE INDEX webhook_messages_finished ON webhook_messages (created_at) WHERE status <> 'pending';
