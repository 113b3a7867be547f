-- How far the sweep that destroys secrets nothing needs any more has read the event store: the
-- position of the last event that let go of a secret and was dealt with.
CREATE TABLE vault_hygiene (
    name     text   PRIMARY KEY,
    position bigint NOT NULL
);
INSERT INTO vault_hygiene (name, position) VALUES ('released_secrets', 0);
