-- Secrets every replica shares, made once: the key that binds page tokens to their query.
CREATE TABLE service_secrets (
    name    text PRIMARY KEY,
    secret  bytea NOT NULL
);
GRANT SELECT, INSERT ON service_secrets TO consentry_audit_writer;
