-- Aborts the statement that calls it, and with it everything that statement wrote. A command's
-- single statement (an append with data-modifying CTEs that claim an external id or an
-- idempotency key) calls it when a claim or an expected stream version fails, so that no claim of
-- a command that appended nothing stays behind.
CREATE FUNCTION gangway_refuse_statement() RETURNS boolean
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'a claim or an expected stream version failed; nothing of the statement is kept'
        USING ERRCODE = 'GW409';
END
$$;
