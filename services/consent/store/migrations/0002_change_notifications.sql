-- Every change to consent state is announced on channel `consent_changed` at commit, so every
-- replica's decision cache drops what it holds for that (subject, purpose). Payload: subject id,
-- unit separator, purpose id; or "*" (drop everything) for large or purpose-wide changes.
-- Every trigger below names its transition table changed_rows: new rows for inserts and updates,
-- old rows for updates (erasure rewrites subject_id, and caches hold the old one) and deletes.
CREATE FUNCTION announce_consent_changes() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF (SELECT count(*) FROM changed_rows) > 200 THEN
        PERFORM pg_notify('consent_changed', '*');
    ELSE
        PERFORM pg_notify('consent_changed', subject_id || chr(31) || purpose_id) FROM changed_rows;
    END IF;
    RETURN NULL;
END $$;

CREATE FUNCTION announce_everything_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('consent_changed', '*');
    RETURN NULL;
END $$;

CREATE TRIGGER consents_inserted AFTER INSERT ON consents REFERENCING NEW TABLE AS changed_rows
    FOR EACH STATEMENT EXECUTE FUNCTION announce_consent_changes();
CREATE TRIGGER consents_updated AFTER UPDATE ON consents REFERENCING NEW TABLE AS changed_rows
    FOR EACH STATEMENT EXECUTE FUNCTION announce_consent_changes();
CREATE TRIGGER consents_updated_previous AFTER UPDATE ON consents REFERENCING OLD TABLE AS changed_rows
    FOR EACH STATEMENT EXECUTE FUNCTION announce_consent_changes();
CREATE TRIGGER consents_deleted AFTER DELETE ON consents REFERENCING OLD TABLE AS changed_rows
    FOR EACH STATEMENT EXECUTE FUNCTION announce_consent_changes();
CREATE TRIGGER purposes_changed AFTER INSERT OR UPDATE OR DELETE ON purposes
    FOR EACH STATEMENT EXECUTE FUNCTION announce_everything_changed();
CREATE TRIGGER subjects_erased AFTER INSERT ON erased_subjects
    FOR EACH STATEMENT EXECUTE FUNCTION announce_everything_changed();
