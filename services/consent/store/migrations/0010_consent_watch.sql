-- Changes announced to face systems' caches (ConsentService.WatchConsents), on a channel of their own
-- so the decision caches' channel keeps its format. Payload: controller id, unit separator, subject
-- id, unit separator, purpose id; or "*", unit separator, controller id (anything of that controller
-- may have changed). Inserts announce the new rows; updates and deletes the old ones (erasure
-- rewrites the subject id, and caches hold the old one). An update that only moves the last
-- interaction later is not announced: it only puts off an expiry a cache already keeps to.
CREATE FUNCTION announce_consent_watch() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF (SELECT count(*) FROM changed_rows) > 200 THEN
        PERFORM pg_notify('consent_watch', '*' || chr(31) || controller_id)
            FROM (SELECT DISTINCT controller_id FROM changed_rows) AS controllers;
    ELSE
        PERFORM pg_notify('consent_watch', controller_id || chr(31) || subject_id || chr(31) || purpose_id)
            FROM changed_rows;
    END IF;
    RETURN NULL;
END $$;

CREATE FUNCTION announce_consent_watch_updated() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF (SELECT count(*) FROM old_rows) > 200 THEN
        PERFORM pg_notify('consent_watch', '*' || chr(31) || controller_id)
            FROM (SELECT DISTINCT controller_id FROM old_rows) AS controllers;
    ELSE
        PERFORM pg_notify('consent_watch', o.controller_id || chr(31) || o.subject_id || chr(31) || o.purpose_id)
            FROM old_rows o LEFT JOIN new_rows n USING (consent_id)
            WHERE n.consent_id IS NULL
               OR to_jsonb(o) - 'last_interaction_at' IS DISTINCT FROM to_jsonb(n) - 'last_interaction_at';
    END IF;
    RETURN NULL;
END $$;

CREATE FUNCTION announce_purpose_watch() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('consent_watch', '*' || chr(31) || COALESCE(NEW.controller_id, OLD.controller_id));
    IF TG_OP = 'UPDATE' AND NEW.controller_id IS DISTINCT FROM OLD.controller_id THEN
        PERFORM pg_notify('consent_watch', '*' || chr(31) || OLD.controller_id);
    END IF;
    RETURN NULL;
END $$;

CREATE TRIGGER consents_watch_inserted AFTER INSERT ON consents REFERENCING NEW TABLE AS changed_rows
    FOR EACH STATEMENT EXECUTE FUNCTION announce_consent_watch();
CREATE TRIGGER consents_watch_updated AFTER UPDATE ON consents
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION announce_consent_watch_updated();
CREATE TRIGGER consents_watch_deleted AFTER DELETE ON consents REFERENCING OLD TABLE AS changed_rows
    FOR EACH STATEMENT EXECUTE FUNCTION announce_consent_watch();
CREATE TRIGGER purposes_watch AFTER INSERT OR UPDATE OR DELETE ON purposes
    FOR EACH ROW EXECUTE FUNCTION announce_purpose_watch();
