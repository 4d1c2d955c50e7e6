-- Data-subject requests, their timeline, the processors (recipients) and one task per processor.
CREATE TABLE requests (
    request_id             text PRIMARY KEY,
    type                   smallint    NOT NULL,
    subject_id             text        NOT NULL,
    jurisdiction           text        NOT NULL,
    status                 smallint    NOT NULL,
    received_at            timestamptz NOT NULL,
    due_at                 timestamptz NOT NULL,
    purpose_id             text        NOT NULL DEFAULT '',
    corrections            jsonb       NOT NULL DEFAULT '{}',
    details                text        NOT NULL DEFAULT '',
    evidence_method        text        NOT NULL DEFAULT '',
    evidence_ref           text        NOT NULL DEFAULT '',
    extended               boolean     NOT NULL DEFAULT false,
    extension_reason       text        NOT NULL DEFAULT '',
    status_reason          text        NOT NULL DEFAULT '',
    rejection_code         text,
    rejection_explanation  text,
    complaint_route        text,
    certificate            bytea       NOT NULL DEFAULT '',
    certificate_signature  bytea       NOT NULL DEFAULT '',
    automatic              boolean     NOT NULL DEFAULT false,
    export_json            bytea
);
CREATE INDEX requests_open_by_due ON requests (due_at) WHERE status NOT IN (5, 6, 7);
CREATE INDEX requests_by_subject ON requests (subject_id);
CREATE INDEX requests_verified ON requests (received_at) WHERE status = 3;

CREATE TABLE request_timeline (
    request_id  text        NOT NULL REFERENCES requests,
    at          timestamptz NOT NULL DEFAULT clock_timestamp(),
    status      smallint    NOT NULL,
    note        text        NOT NULL DEFAULT ''
);
CREATE INDEX request_timeline_by_request ON request_timeline (request_id, at);

CREATE TABLE processors (
    name           text PRIMARY KEY,
    capabilities   text[]      NOT NULL,
    purpose_ids    text[]      NOT NULL,
    registered_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE tasks (
    task_id          text PRIMARY KEY,
    request_id       text        NOT NULL REFERENCES requests,
    processor        text        NOT NULL,
    action           text        NOT NULL,
    state            text        NOT NULL,
    attempts         integer     NOT NULL DEFAULT 0,
    reason           text        NOT NULL DEFAULT '',
    next_attempt_at  timestamptz,
    confirmed_at     timestamptz,
    data_json        bytea       NOT NULL DEFAULT '',
    UNIQUE (request_id, processor)
);
CREATE INDEX tasks_due ON tasks (next_attempt_at) WHERE state IN ('PENDING', 'SENT');
