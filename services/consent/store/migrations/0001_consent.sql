CREATE TABLE purposes (
    purpose_id             text PRIMARY KEY,
    controller_id          text        NOT NULL,
    name                   text        NOT NULL,
    description            text        NOT NULL DEFAULT '',
    data_categories        smallint[]  NOT NULL,
    storage_location       smallint    NOT NULL,
    retention              interval    NOT NULL,
    legal_basis            smallint    NOT NULL,
    non_face_alternative   text        NOT NULL,
    minimum_age            smallint    NOT NULL,
    pia_reference          text        NOT NULL,
    recipients             text[]      NOT NULL DEFAULT '{}',
    withdrawal_method      text        NOT NULL DEFAULT '',
    current_notice_version integer     NOT NULL DEFAULT 0,
    created_at             timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE notices (
    purpose_id      text        NOT NULL REFERENCES purposes,
    version         integer     NOT NULL,
    language        text        NOT NULL,
    text            text        NOT NULL,
    content_hash    text        NOT NULL,
    material_change boolean     NOT NULL,
    published_at    timestamptz NOT NULL,
    PRIMARY KEY (purpose_id, version, language)
);

-- One record per (subject, purpose): separate consent, never bundled.
CREATE TABLE consents (
    consent_id                uuid PRIMARY KEY,
    subject_id                text        NOT NULL,
    purpose_id                text        NOT NULL REFERENCES purposes,
    controller_id             text        NOT NULL,
    state                     smallint    NOT NULL,
    notice_version            integer     NOT NULL,
    notice_language           text        NOT NULL,
    notice_hash               text        NOT NULL,
    jurisdiction              text        NOT NULL,
    collection_method         smallint    NOT NULL,
    evidence_ref              text        NOT NULL DEFAULT '',
    actor_kind                smallint    NOT NULL,
    guardian_id               text        NOT NULL DEFAULT '',
    guardian_verification_ref text        NOT NULL DEFAULT '',
    subject_age               smallint    NOT NULL,
    alternative_offered       boolean     NOT NULL,
    granted_at                timestamptz NOT NULL,
    expires_at                timestamptz NOT NULL,
    last_interaction_at       timestamptz NOT NULL,
    updated_at                timestamptz NOT NULL,
    UNIQUE (subject_id, purpose_id)
);
CREATE INDEX consents_given_by_expiry ON consents (expires_at) WHERE state = 1;
CREATE INDEX consents_given_by_interaction ON consents (last_interaction_at) WHERE state = 1;
CREATE INDEX consents_purpose_state ON consents (purpose_id, state);

-- Every event of every record, for proof of consent (GDPR 7(1)). Append-only by convention here;
-- the audit service holds the tamper-evident copy.
CREATE TABLE consent_history (
    id             bigserial PRIMARY KEY,
    consent_id     uuid        NOT NULL REFERENCES consents,
    event_id       uuid        NOT NULL,
    event_type     text        NOT NULL,
    state          smallint    NOT NULL,
    notice_version integer     NOT NULL,
    actor_kind     smallint    NOT NULL,
    guardian_id    text        NOT NULL DEFAULT '',
    reason         text        NOT NULL DEFAULT '',
    occurred_at    timestamptz NOT NULL
);
CREATE INDEX consent_history_by_consent ON consent_history (consent_id, id);

-- Tombstones of erased subjects, keyed by SHA-256 of the subject id rather than the id itself.
CREATE TABLE erased_subjects (
    subject_hash text PRIMARY KEY,
    request_id text        NOT NULL,
    erased_at  timestamptz NOT NULL
);
