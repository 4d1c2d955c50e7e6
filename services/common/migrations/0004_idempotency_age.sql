-- Idempotency records are forgotten once their time is up (services/common/retention.py).
CREATE INDEX idempotency_by_age ON idempotency (created_at);
