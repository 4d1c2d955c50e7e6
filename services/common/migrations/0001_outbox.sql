-- Transactional outbox: a row is written in the same transaction as the state change it describes.
-- The relay numbers rows gap-free (sequence) in the order it first sees them committed, publishes
-- them in that order and stamps published_at once the broker acknowledged.
CREATE TABLE outbox (
    id            bigserial PRIMARY KEY,
    event_id      uuid        NOT NULL UNIQUE,
    event_type    text        NOT NULL,
    subject_id    text        NOT NULL DEFAULT '',
    payload_type  text        NOT NULL,
    payload       bytea       NOT NULL,
    traceparent   text        NOT NULL DEFAULT '',
    occurred_at   timestamptz NOT NULL,
    sequence      bigint      UNIQUE,
    published_at  timestamptz
);
CREATE INDEX outbox_unsequenced ON outbox (id) WHERE sequence IS NULL;
CREATE INDEX outbox_unpublished ON outbox (sequence) WHERE published_at IS NULL AND sequence IS NOT NULL;

CREATE TABLE outbox_sequence (
    singleton  boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    last_value bigint  NOT NULL DEFAULT 0
);
INSERT INTO outbox_sequence DEFAULT VALUES;

-- Results of mutating RPCs by idempotency key, so a retry returns the first answer. The row is
-- claimed first (response NULL until the same transaction stores it), so a concurrent retry waits
-- on the unique key and then reads the committed answer.
CREATE TABLE idempotency (
    client_id     text        NOT NULL,
    method        text        NOT NULL,
    idem_key      text        NOT NULL,
    request_hash  bytea       NOT NULL,
    response      bytea,
    created_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (client_id, method, idem_key)
);
