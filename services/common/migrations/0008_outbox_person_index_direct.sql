-- The outbox's index by person is searched by every erasure (outbox_retention.redact_persons). GIN
-- queues new entries in a pending list by default (fastupdate) and a search reads all of that list,
-- up to gin_pending_list_limit (4 MB) of it, until a vacuum merges it: under a stream of deletions
-- each erasure's redaction took about 1 ms per person. Written into the tree directly, a search is
-- a lookup; inserting an outbox row costs the same (measured side by side).
-- The index is locked exclusively while this runs, which holds up every outbox write: a writer that
-- keeps its transaction open would keep this and everyone behind it waiting, so past the timeout the
-- migration fails and the next start tries again.
SET LOCAL lock_timeout = '10s';
ALTER INDEX outbox_by_person SET (fastupdate = off);
SELECT gin_clean_pending_list('outbox_by_person'::regclass);  -- what the list already holds
