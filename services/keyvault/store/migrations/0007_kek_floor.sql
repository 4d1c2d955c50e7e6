-- The lowest KEK version a stored subject key may be wrapped under. A rotation that trims raises it
-- before Vault destroys the older versions, and only while no live key is left below it; new keys
-- are stored only at or above it, read under a share lock, so the raise waits for keys being stored
-- and then sees them. A key wrapped under an old version and stored after the rotation's last sweep
-- is therefore either seen (and re-wrapped) or refused (and made again), never stranded.
CREATE TABLE kek_floor (
    singleton  boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    version    integer NOT NULL DEFAULT 0
);
INSERT INTO kek_floor DEFAULT VALUES;
