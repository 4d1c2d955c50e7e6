-- no transaction: the one index of consents that 0009 needs, built CONCURRENTLY (readers and writers of the live table go on)
-- A purpose id is unique within its controller only (0009), so a subject's record of a purpose is one
-- per controller too. An interrupted build leaves an invalid index behind, so it is dropped first.
DROP INDEX CONCURRENTLY IF EXISTS consents_one_per_controller;
CREATE UNIQUE INDEX CONCURRENTLY consents_one_per_controller ON consents (subject_id, purpose_id, controller_id)
