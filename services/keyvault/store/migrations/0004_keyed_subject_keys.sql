-- Rows name the subject by its keyed tag (HMAC-SHA256 of the id under the erasure key, see
-- services/common/erasure.py), never by the id: a tombstone must not keep the person it stands for.
-- SQL cannot compute the tag (its key lives in Vault), so the move takes three migrations applied
-- in one start, before the service serves: this one adds the column, the Python step
-- 0005_tag_subject_keys (services/keyvault/store/keyed_rows.py) fills it for the rows already
-- there, and 0006 drops the id. A start without the step (no erasure key) stops at 0006. Replicas
-- of an earlier version cannot work on the moved table: stop them before the first new one starts.
ALTER TABLE subject_keys ADD COLUMN subject_tag text;
