-- A subject key that stops being usable (shredding, shredded, its controller offboarded) is announced
-- to face systems' caches (KeyVaultService.WatchKeys) on a channel of its own, so the purge channel
-- keeps its format. Re-wrapping under a new KEK changes no key and is not announced. Payload:
-- controller id (empty: the default controller), unit separator, subject tag; or "*", unit
-- separator, controller id when more than 200 keys changed in one statement.
CREATE FUNCTION announce_key_watch_updated() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    changed integer;
BEGIN
    SELECT count(*) INTO changed FROM old_rows o JOIN new_rows n USING (subject_tag) WHERE o.state <> n.state;
    IF changed > 200 THEN
        PERFORM pg_notify('key_watch', '*' || chr(31) || c.controller_id) FROM (
            SELECT DISTINCT COALESCE(o.controller_id, '') AS controller_id
            FROM old_rows o JOIN new_rows n USING (subject_tag) WHERE o.state <> n.state) AS c;
    ELSIF changed > 0 THEN
        PERFORM pg_notify('key_watch', COALESCE(o.controller_id, '') || chr(31) || o.subject_tag)
            FROM old_rows o JOIN new_rows n USING (subject_tag) WHERE o.state <> n.state;
    END IF;
    RETURN NULL;
END $$;

CREATE FUNCTION announce_key_watch_deleted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF (SELECT count(*) FROM old_rows) > 200 THEN
        PERFORM pg_notify('key_watch', '*' || chr(31) || c.controller_id)
            FROM (SELECT DISTINCT COALESCE(controller_id, '') AS controller_id FROM old_rows) AS c;
    ELSE
        PERFORM pg_notify('key_watch', COALESCE(controller_id, '') || chr(31) || subject_tag) FROM old_rows;
    END IF;
    RETURN NULL;
END $$;

CREATE TRIGGER subject_keys_watch_updated AFTER UPDATE ON subject_keys
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION announce_key_watch_updated();
CREATE TRIGGER subject_keys_watch_deleted AFTER DELETE ON subject_keys
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION announce_key_watch_deleted();
