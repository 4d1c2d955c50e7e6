-- What keyvault keeps of each controller's KEK (services/keyvault/domain/kek.py): the floor, the
-- lowest KEK version a stored key may be wrapped under (migration 0007), which a rotation that trims
-- raises for that controller's KEK alone; and, once the controller is offboarded, when, the signed
-- certificate of what was destroyed, and when Vault's part was done. Key creation share-locks the controller's row, so an
-- offboarding waits for keys being stored and then sees them, and no key is stored after it.
-- The row '' is the default controller's KEK, the one every key was wrapped under before: it keeps
-- the floor there was. Other controllers' rows are made by their first key or rotation. The old
-- table stays for replicas of the previous version until they are replaced; nothing reads it after.
CREATE TABLE controller_keks (
    controller_id    text PRIMARY KEY,
    floor            integer NOT NULL DEFAULT 0,
    offboarded_at    timestamptz,
    -- when Vault's part of the offboarding was done (and the event published)
    completed_at     timestamptz,
    certificate_json bytea,
    certificate_sig  bytea,
    certificate_key  text,
    CHECK ((offboarded_at IS NULL) = (certificate_json IS NULL))
);
COMMENT ON COLUMN controller_keks.controller_id IS 'controller whose KEK this is; empty: the default controller';
INSERT INTO controller_keks (controller_id, floor) SELECT '', version FROM kek_floor;
COMMENT ON TABLE kek_floor IS 'superseded by controller_keks (migration 0009); kept for replicas of the previous version';
