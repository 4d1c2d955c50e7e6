-- The controller whose subjects were tagged before controllers existed (erasure_key.default_controller),
-- pinned at the first start after the upgrade: a later start configured otherwise would tag those
-- subjects anew and find none of their keys, tombstones or events, so it is refused instead.
CREATE TABLE default_controller (
    only_row       boolean PRIMARY KEY DEFAULT true CHECK (only_row),
    controller_id  text    NOT NULL,
    pinned_at      timestamptz NOT NULL DEFAULT now()
);
