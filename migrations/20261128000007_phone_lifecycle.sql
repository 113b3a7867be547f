-- Phone lifecycle. Meta's account-level webhooks name a WABA, not a phone, so the claim table
-- that maps Meta's numbers to ours also records their WABA.
ALTER TABLE phone_number_ids ADD COLUMN meta_waba_id text;
UPDATE phone_number_ids p SET meta_waba_id = r.document->>'metaWabaId'
  FROM rm_phones r WHERE r.id = p.phone_id;
CREATE INDEX phone_number_ids_waba ON phone_number_ids (meta_waba_id);
CREATE INDEX phone_number_ids_meta_phone ON phone_number_ids (meta_phone_number_id);

-- When the health monitor last checked each number. Health changes are events; the time of the
-- last check (which mostly changes nothing) is bookkeeping.
CREATE TABLE phone_health_checks (
    phone_id        uuid        PRIMARY KEY,
    organization_id uuid        NOT NULL,
    checked_at      timestamptz NOT NULL,
    -- What the check could not find out (Meta unreachable, ...), if anything.
    error           text
);

-- Meta's webhook changes already applied, by a digest of (entry id, entry time, field, value):
-- Meta redelivers until it gets a 200, and a redelivered change must change nothing.
CREATE TABLE meta_webhook_receipts (
    digest      bytea       PRIMARY KEY,
    field       text        NOT NULL,
    received_at timestamptz NOT NULL DEFAULT now()
);
