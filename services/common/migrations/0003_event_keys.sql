-- One key per person for sealing their events on the broker (services/common/event_keys.py). The
-- person is named only by the erasure tag (HMAC under the erasure key); erasure empties `key`, and
-- the row stays as the tombstone that keeps a new key from being made for them.
CREATE TABLE event_keys (
    key_id       uuid PRIMARY KEY,
    subject_tag  text        NOT NULL UNIQUE,
    key          bytea,
    created_at   timestamptz NOT NULL DEFAULT now(),
    erased_at    timestamptz,
    CHECK ((key IS NULL) = (erased_at IS NOT NULL))
);
