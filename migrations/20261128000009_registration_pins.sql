-- The two-step verification PIN Gangway registers each dedicated number with, one per Meta
-- number per organization, chosen before the first register call. A retry after a crash (or a
-- number onboarded again) registers with the same PIN instead of locking the number under one
-- nobody kept.
CREATE TABLE registration_pins (
    organization_id      uuid        NOT NULL,
    meta_phone_number_id text        NOT NULL,
    pin_ref              uuid        NOT NULL,
    created_at           timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (organization_id, meta_phone_number_id)
);
INSERT INTO registration_pins (organization_id, meta_phone_number_id, pin_ref)
SELECT organization_id, phone_number_id, (document->>'pinRef')::uuid
  FROM rm_phones WHERE document->>'pinRef' IS NOT NULL
ON CONFLICT DO NOTHING;
