-- The dispatcher keeps at most a window of tasks out per processor on their first attempt: it counts
-- each processor's SENT tasks not yet re-sent and takes its oldest PENDING ones.
CREATE INDEX tasks_first_attempt_by_processor ON tasks (processor) WHERE state = 'SENT' AND attempts = 1;
CREATE INDEX tasks_pending_by_processor ON tasks (processor, next_attempt_at, task_id) WHERE state = 'PENDING';
