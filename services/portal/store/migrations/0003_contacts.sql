-- Sign-in by e-mail code (services/portal/domain/codes.py). An address is kept as its keyed hash only.
CREATE TABLE contacts (
    controller_id text        NOT NULL,
    address_hash  text        NOT NULL,
    subject_id    text        NOT NULL,
    jurisdiction  text        NOT NULL,
    registered_at timestamptz NOT NULL,
    PRIMARY KEY (controller_id, address_hash),
    UNIQUE (controller_id, subject_id)
);

-- A code asked for, by the SHA-256 of its challenge; subject_id is NULL for an address no one registered
-- (its page behaves the same, and no code matches). Gone one sweep after its expiry.
CREATE TABLE sign_in_codes (
    challenge_hash text        PRIMARY KEY,
    controller_id  text        NOT NULL,
    address_hash   text        NOT NULL,
    subject_id     text,
    jurisdiction   text        NOT NULL,
    language       text        NOT NULL,
    code_hash      text        NOT NULL,
    attempts       integer     NOT NULL DEFAULT 0,
    expires_at     timestamptz NOT NULL,
    used_at        timestamptz
);
CREATE INDEX sign_in_codes_by_address ON sign_in_codes (controller_id, address_hash);
CREATE INDEX sign_in_codes_by_expiry ON sign_in_codes (expires_at);
CREATE INDEX sessions_by_subject ON sessions (controller_id, subject_id);
CREATE INDEX sign_in_links_by_subject ON sign_in_links (controller_id, subject_id);
