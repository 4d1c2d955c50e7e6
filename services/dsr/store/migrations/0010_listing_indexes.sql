-- no transaction: the indexes a DPO's listing walks (store/listing.py), built CONCURRENTLY (readers and writers of the live table go on)
-- Each run of a page is walked in (due_at, request_id) order by one of these and stops at the page's
-- size, however many requests there are. An interrupted build leaves an invalid index behind, so each
-- is dropped first.
DROP INDEX CONCURRENTLY IF EXISTS requests_by_due;
CREATE INDEX CONCURRENTLY requests_by_due ON requests (due_at, request_id);
DROP INDEX CONCURRENTLY IF EXISTS requests_by_status_due;
CREATE INDEX CONCURRENTLY requests_by_status_due ON requests (status, due_at, request_id);
DROP INDEX CONCURRENTLY IF EXISTS requests_by_controller_due;
CREATE INDEX CONCURRENTLY requests_by_controller_due ON requests (controller_id, due_at, request_id);
-- The three arms of "overdue": open (in place of 0001's requests_open_by_due, which lacks the id); open
-- with a receipt to acknowledge not acknowledged yet; an export held for review.
DROP INDEX CONCURRENTLY IF EXISTS requests_open_in_due_order;
CREATE INDEX CONCURRENTLY requests_open_in_due_order ON requests (due_at, request_id) WHERE status NOT IN (5, 6, 7);
DROP INDEX CONCURRENTLY IF EXISTS requests_open_by_due;
DROP INDEX CONCURRENTLY IF EXISTS requests_unacknowledged;
CREATE INDEX CONCURRENTLY requests_unacknowledged ON requests (due_at, request_id)
    WHERE status NOT IN (5, 6, 7) AND acknowledged_at IS NULL AND acknowledgement_due_at IS NOT NULL;
DROP INDEX CONCURRENTLY IF EXISTS requests_held_by_due;
CREATE INDEX CONCURRENTLY requests_held_by_due ON requests (due_at, request_id)
    WHERE type IN (1, 5) AND status IN (5, 7) AND export_released_at IS NULL AND subject_id NOT LIKE 'erased:%';
-- The requests with a task for one processor (the processor filter), when it has few.
DROP INDEX CONCURRENTLY IF EXISTS tasks_by_processor;
CREATE INDEX CONCURRENTLY tasks_by_processor ON tasks (processor, request_id)
