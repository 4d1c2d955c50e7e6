-- The controller a subject key's subject is a subject of: the same person at two controllers has two
-- keys under two tags (services/common/erasure.py), and offboarding a controller must find its keys.
-- Rows from before controllers keep NULL: they are the default controller's (erasure key setting
-- `default_controller`), under the tags they have; nothing is re-tagged. A nullable column without a
-- default changes only the catalogue: readers and writers of the live table are not held up, and
-- replicas of the previous version keep inserting (NULL) until they are replaced. An index for the
-- per-controller lookups is left to the change that needs them (built CONCURRENTLY, outside this
-- migration's transaction).
ALTER TABLE subject_keys ADD COLUMN controller_id text;
COMMENT ON COLUMN subject_keys.controller_id IS 'controller of the subject; NULL: the default controller (before controllers)';
