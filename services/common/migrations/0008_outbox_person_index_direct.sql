-- The outbox's index by person is searched by every erasure (outbox_retention.redact_persons). GIN
-- queues new entries in a pending list by default (fastupdate) and a search reads all of that list,
-- up to gin_pending_list_limit (4 MB) of it, until a vacuum merges it: under a stream of deletions
-- each erasure's redaction took about 1 ms per person. Written into the tree directly, a search is
-- a lookup; inserting an outbox row costs the same (measured side by side). What the list holds
-- already is merged by the next migration, without this one's lock.
-- Changing the option locks the index exclusively, which holds up every read and write of the outbox
-- while it waits: past a short timeout the migration fails instead, and the next start tries again.
SET LOCAL lock_timeout = '2s';
ALTER INDEX outbox_by_person SET (fastupdate = off);
