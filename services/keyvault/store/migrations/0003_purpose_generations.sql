-- One row per (person, purpose) that was ever issued a data key: the key generation those data keys
-- are bound to, the consent term it belongs to, and its secret. When that consent ends the secret is
-- dropped (and replaced by the next generation's on a later grant), so the data keys issued under the
-- ended consent are unreadable for good. Keyed by the person's keyed tag (HMAC under the erasure key),
-- never the id; a person's erasure deletes every row.
CREATE TABLE purpose_generations (
    subject_tag    text        NOT NULL,
    purpose_id     text        NOT NULL,
    generation     integer     NOT NULL CHECK (generation > 0),
    consent_id     text        NOT NULL,
    consent_lapses integer     NOT NULL,
    secret         bytea,
    created_at     timestamptz NOT NULL DEFAULT now(),
    retired_at     timestamptz,
    PRIMARY KEY (subject_tag, purpose_id),
    CHECK ((secret IS NULL) = (retired_at IS NOT NULL))
);

-- Every replica drops its cached generation when a row changes.
CREATE FUNCTION announce_purpose_generation_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('purpose_generation_changed', OLD.subject_tag || chr(31) || OLD.purpose_id);
    RETURN NULL;
END $$;

CREATE TRIGGER purpose_generation_changed AFTER UPDATE OR DELETE ON purpose_generations
    FOR EACH ROW EXECUTE FUNCTION announce_purpose_generation_change();
