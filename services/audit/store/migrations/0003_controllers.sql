-- Every entry names its controller. Entries from before controllers keep NULL: their leaves cannot
-- change, and they are the default controller's (AuditSettings.default_controller). Adding a column
-- without a default rewrites no row and fires no trigger, so the log is never blocked for readers.
ALTER TABLE entries ADD COLUMN controller_id text;
CREATE INDEX entries_by_controller ON entries (controller_id, leaf_index);

-- The controller of an appended face-system event, until the sequencer takes it (NULL: appended
-- before controllers, hence the default controller's).
ALTER TABLE inbox ADD COLUMN controller_id text;
