-- What dsr forgets, and when (services/dsr/service/forgetting.py). A request settles at
-- `settled_at`; its identity evidence, corrections, free text and export are forgotten at
-- `forgotten_at`: once a retention has passed, or at once when the request deleted its person, whose
-- id is then replaced by the keyed tombstone.
ALTER TABLE requests ADD COLUMN settled_at timestamptz;
ALTER TABLE requests ADD COLUMN forgotten_at timestamptz;
UPDATE requests SET settled_at = now() WHERE status IN (5, 6, 7);
CREATE INDEX requests_to_forget ON requests (settled_at) WHERE forgotten_at IS NULL AND settled_at IS NOT NULL;

-- The key an access task's result is sealed under on the results topic, given to its processor in
-- ConfirmTasks only; dropped when the request's data is forgotten, so what is on the broker opens to
-- nobody from then on.
ALTER TABLE tasks ADD COLUMN result_key bytea;
