-- What the index by person queued before it was written directly (0008) is merged into it. Searches
-- read the list correctly until then; the merge takes no lock that holds up the outbox's writers.
SELECT gin_clean_pending_list('outbox_by_person'::regclass);
