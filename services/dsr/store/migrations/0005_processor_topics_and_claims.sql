-- A start claim names its holder, which renews it while it works: a claim of a live starter never
-- runs out under it, a dead starter's runs out in seconds.
ALTER TABLE requests ADD COLUMN starting_by text;

-- Secrets every replica shares, made once: the key that binds page tokens to their query.
CREATE TABLE service_secrets (
    name    text PRIMARY KEY,
    secret  bytea NOT NULL
);

-- A processor's open tasks, when it is deregistered or confirms what it read.
CREATE INDEX tasks_open_by_processor ON tasks (processor) WHERE state IN ('PENDING', 'SENT');
