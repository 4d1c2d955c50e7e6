-- Sign-in links and sessions, each kept as the SHA-256 of its secret (services/portal/domain/sign_in.py).
-- Both name a person; neither outlives its expiry by more than one sweep (SessionStore.forget_ended, every minute).
CREATE TABLE sign_in_links (
    token_hash    text        PRIMARY KEY,
    controller_id text        NOT NULL,
    subject_id    text        NOT NULL,
    jurisdiction  text        NOT NULL,
    language      text        NOT NULL,
    expires_at    timestamptz NOT NULL,
    used_at       timestamptz
);
CREATE INDEX sign_in_links_by_expiry ON sign_in_links (expires_at);

CREATE TABLE sessions (
    session_hash  text        PRIMARY KEY,
    controller_id text        NOT NULL,
    subject_id    text        NOT NULL,
    jurisdiction  text        NOT NULL,
    language      text        NOT NULL,
    verified_by   text        NOT NULL,
    created_at    timestamptz NOT NULL,
    last_seen_at  timestamptz NOT NULL,
    expires_at    timestamptz NOT NULL
);
CREATE INDEX sessions_by_expiry ON sessions (expires_at);

-- Secrets every replica shares, made once: the key of the forms' CSRF tokens.
CREATE TABLE service_secrets (
    name    text PRIMARY KEY,
    secret  bytea NOT NULL
);
