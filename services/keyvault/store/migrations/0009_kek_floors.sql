-- A KEK floor per controller: each controller's subject keys are wrapped under its own KEK
-- (services/keyvault/domain/kek.py), and a rotation that trims one KEK raises that KEK's floor alone.
-- The row '' is the default controller's KEK, the one every key was wrapped under before: it keeps
-- the floor there was. Other controllers' rows are made by their first key or rotation. The old
-- table stays for replicas of the previous version until they are replaced; nothing reads it after.
CREATE TABLE kek_floors (
    controller_id  text PRIMARY KEY,
    version        integer NOT NULL DEFAULT 0
);
COMMENT ON COLUMN kek_floors.controller_id IS 'controller whose KEK this is; empty: the default controller';
INSERT INTO kek_floors (controller_id, version) SELECT '', version FROM kek_floor;
COMMENT ON TABLE kek_floor IS 'superseded by kek_floors (migration 0009); kept for replicas of the previous version';
