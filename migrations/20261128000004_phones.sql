-- Phone numbers. `phone_number_ids` is written by the api when a signup connects a number: it
-- makes "one phone per Meta phone number id per organization" a constraint, not a race.

CREATE TABLE phone_number_ids (
    organization_id      uuid        NOT NULL,
    meta_phone_number_id text        NOT NULL,
    phone_id             uuid        NOT NULL,
    created_at           timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (organization_id, meta_phone_number_id)
);

CREATE TABLE rm_phones (
    id              uuid        PRIMARY KEY,
    organization_id uuid        NOT NULL,
    customer_id     uuid,
    phone_number_id text        NOT NULL,
    waba_id         uuid        NOT NULL,
    status          text        NOT NULL,
    created_at      timestamptz NOT NULL,
    stream_version  bigint      NOT NULL,
    document        jsonb       NOT NULL
);
CREATE INDEX rm_phones_org ON rm_phones (organization_id, created_at DESC, id DESC);
