-- no transaction: an index built CONCURRENTLY leaves readers and writers of the live table alone
-- A controller's live keys (and those being shredded), found without reading every controller's: a
-- rotation of its KEK sweeps them by KEK version, and offboarding it finds them all. An interrupted
-- build leaves an invalid index behind, so the build starts by dropping whatever one left.
DROP INDEX CONCURRENTLY IF EXISTS subject_keys_live_by_controller;
CREATE INDEX CONCURRENTLY subject_keys_live_by_controller ON subject_keys (controller_id, kek_version)
    WHERE state IN (2, 4)
