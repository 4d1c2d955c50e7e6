-- Every person an event names (its subject, and e.g. a guardian), so an erasure finds and redacts
-- every row that would name them again in a replay.
ALTER TABLE outbox ADD COLUMN persons text[] NOT NULL DEFAULT '{}';
UPDATE outbox SET persons = ARRAY[subject_id] WHERE subject_id <> '';
CREATE INDEX outbox_by_person ON outbox USING gin (persons);

-- Published rows are kept until the audit log has them (the consumers' acknowledgement, sent on the
-- replay topic) and a retention has passed, then deleted. The highest sequence published is kept
-- here, so the watermark still tells consumers where the tail is once every row is gone.
ALTER TABLE outbox_sequence ADD COLUMN acknowledged_through bigint NOT NULL DEFAULT 0;
ALTER TABLE outbox_sequence ADD COLUMN pruned_through bigint NOT NULL DEFAULT 0;
CREATE INDEX outbox_published ON outbox (sequence) WHERE published_at IS NOT NULL;
