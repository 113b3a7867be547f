-- A Meta number belongs to one organization at a time, and Meta keeps one two-step PIN per
-- number: the PIN Gangway registers a number with is now kept once per Meta number for the whole
-- deployment. `organization_id` names the organization whose vault entry holds it (the first to
-- register the number); a later organization connecting the same number registers with it.
DELETE FROM registration_pins p
 USING registration_pins older
 WHERE older.meta_phone_number_id = p.meta_phone_number_id
   AND (older.created_at, older.organization_id) < (p.created_at, p.organization_id);
ALTER TABLE registration_pins DROP CONSTRAINT registration_pins_pkey;
ALTER TABLE registration_pins ADD PRIMARY KEY (meta_phone_number_id);
