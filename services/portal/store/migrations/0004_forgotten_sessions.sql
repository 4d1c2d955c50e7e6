-- A session of a person the platform deleted stays for a few minutes, to read the deletion's outcome,
-- and changes nothing more (SessionStore.forget); the sweep deletes it when it ends.
ALTER TABLE sessions ADD COLUMN forgotten_at timestamptz;
