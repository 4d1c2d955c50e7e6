-- The last of the move begun in 0004: every row has its tag now, so the id goes, the tag becomes
-- the key, and the cache purge announces the tag (the caches are keyed by it).
ALTER TABLE subject_keys DROP COLUMN subject_id;
ALTER TABLE subject_keys ALTER COLUMN subject_tag SET NOT NULL, ADD PRIMARY KEY (subject_tag);
COMMENT ON COLUMN subject_keys.subject_tag IS 'HMAC-SHA256(erasure key, subject id), hex';

CREATE OR REPLACE FUNCTION announce_subject_key_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('subject_key_changed', OLD.subject_tag);
    RETURN NULL;
END $$;
