-- A shred that destroys a key inside Vault first marks the row SHREDDING (state 4) with the subject
-- reference computed while the key still existed, so a retry after a crash can finish the job.
ALTER TABLE subject_keys ADD COLUMN subject_ref text;
