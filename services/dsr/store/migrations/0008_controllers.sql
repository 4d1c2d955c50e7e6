-- Subjects are per controller: a request is a subject's of one controller, a processor serves one
-- controller's tasks. Rows from before controllers keep NULL, read as the default controller's
-- (erasure_key.default_controller), whose subjects keep the tags they had: nothing is rewritten, and
-- replicas of the previous version keep working on the same rows meanwhile.
ALTER TABLE requests ADD COLUMN controller_id text;
ALTER TABLE processors ADD COLUMN controller_id text;
