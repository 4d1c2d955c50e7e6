-- One row per subject: the subject key wrapped by the KEK while ACTIVE; after shredding only the
-- tombstone and the certificate remain, and the row prevents the key from ever being re-created.
CREATE TABLE subject_keys (
    subject_id        text PRIMARY KEY,
    state             smallint    NOT NULL,
    backend           text        NOT NULL,
    wrapped_key       text,
    kek_version       integer     NOT NULL,
    created_at        timestamptz NOT NULL DEFAULT now(),
    shredded_at       timestamptz,
    request_id        text,
    certificate_json  bytea,
    certificate_sig   bytea,
    certificate_key   text,
    CHECK ((state = 3) = (wrapped_key IS NULL))
);

-- Every replica purges its cached plaintext key when a row changes.
CREATE FUNCTION announce_subject_key_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('subject_key_changed', OLD.subject_id);
    RETURN NULL;
END $$;

CREATE TRIGGER subject_key_changed AFTER UPDATE OR DELETE ON subject_keys
    FOR EACH ROW EXECUTE FUNCTION announce_subject_key_change();
