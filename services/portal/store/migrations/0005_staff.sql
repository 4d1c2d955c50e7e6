-- The console's staff: DPOs, operators and auditors. A password is kept as its argon2id hash; the TOTP
-- secret as issued (a second factor's secret must be readable to check a code; the database is the
-- portal's alone). `last_step` is the last TOTP time step used: a code works once.
CREATE TABLE staff_accounts (
    name           text        PRIMARY KEY,
    role           text        NOT NULL CHECK (role IN ('dpo', 'operator', 'auditor')),
    controller_id  text,
    password_hash  text        NOT NULL,
    totp_secret    text        NOT NULL,
    last_step      bigint      NOT NULL DEFAULT 0,
    failures       integer     NOT NULL DEFAULT 0,
    locked_until   timestamptz,
    created_at     timestamptz NOT NULL DEFAULT now(),
    CHECK (role <> 'dpo' OR controller_id IS NOT NULL),
    CHECK (role <> 'operator' OR controller_id IS NULL)
);

-- A staff member's sessions, by the SHA-256 of their secrets; ended ones go with the portal's sweep.
CREATE TABLE staff_sessions (
    session_hash  text        PRIMARY KEY,
    account       text        NOT NULL REFERENCES staff_accounts ON DELETE CASCADE,
    last_seen_at  timestamptz NOT NULL,
    expires_at    timestamptz NOT NULL
);
CREATE INDEX staff_sessions_by_expiry ON staff_sessions (expires_at);
