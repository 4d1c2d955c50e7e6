-- The controller an event's subject is a subject of: the same person at two controllers is two
-- subjects, each with their own event key, and erasing one redacts only their rows. NULL: an event
-- about no subject, or written before controllers (the default controller's).
ALTER TABLE outbox ADD COLUMN controller_id text;
