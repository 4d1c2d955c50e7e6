-- Each new checkpoint is announced with its tree size, at commit, so the readers of every replica know
-- the signed sizes without reading them (services/audit/service/signed_sizes.py).
CREATE FUNCTION announce_checkpoint() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('audit_checkpoint', NEW.tree_size::text);
    RETURN NULL;
END $$;

CREATE TRIGGER checkpoints_announced AFTER INSERT ON checkpoints
    FOR EACH ROW EXECUTE FUNCTION announce_checkpoint();
