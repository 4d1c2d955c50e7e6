-- The dispatcher keeps at most a window of unconfirmed tasks per processor: it counts each
-- processor's SENT tasks and takes its oldest PENDING ones.
CREATE INDEX tasks_sent_by_processor ON tasks (processor) WHERE state = 'SENT';
CREATE INDEX tasks_pending_by_processor ON tasks (processor, next_attempt_at) WHERE state = 'PENDING';
