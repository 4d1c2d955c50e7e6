-- Tombstones hold HMAC-SHA256 of the subject id under the erasure key held in Vault (see
-- services/common/erasure.py), never a plain hash, which a guessable id gives away. Rows written
-- before this version hold a plain SHA-256; they no longer match and are dropped here, as nothing
-- can turn them into keyed tags without the ids they were made to hide.
DELETE FROM erased_subjects;
ALTER TABLE erased_subjects RENAME COLUMN subject_hash TO subject_tag;
COMMENT ON COLUMN erased_subjects.subject_tag IS 'HMAC-SHA256(erasure key, subject id), hex';

-- Erasure also replaces the person where they stood as another subject's guardian.
CREATE INDEX consents_by_guardian ON consents (guardian_id) WHERE guardian_id <> '';
CREATE INDEX consent_history_by_guardian ON consent_history (guardian_id) WHERE guardian_id <> '';
