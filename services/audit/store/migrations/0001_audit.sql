-- The audit log. Run by the schema owner; the service's role (a member of consentry_audit_writer)
-- may only read and insert the log tables. Triggers refuse any change to them, and fire even under
-- session_replication_role = replica (ENABLE ALWAYS), so not even the owner can rewrite history.

-- One row per leaf of the RFC 9162 tree; body is exactly what is hashed into the leaf.
CREATE TABLE entries (
    leaf_index     bigint PRIMARY KEY,
    event_id       uuid        NOT NULL UNIQUE,
    producer       text        NOT NULL,
    sequence       bigint,
    event_type     text        NOT NULL,
    subject_ref    text        NOT NULL,
    occurred_at    timestamptz NOT NULL,
    body           bytea       NOT NULL
);
CREATE INDEX entries_by_subject ON entries (subject_ref, leaf_index) WHERE subject_ref <> '';
CREATE INDEX entries_by_type ON entries (event_type, leaf_index);
CREATE INDEX entries_by_producer ON entries (producer, sequence);
CREATE INDEX entries_by_time ON entries (occurred_at, leaf_index);

-- Every perfect subtree hash: level L, index i covers leaves [i * 2^L, (i + 1) * 2^L).
CREATE TABLE tree_nodes (
    level       smallint NOT NULL,
    node_index  bigint   NOT NULL,
    hash        bytea    NOT NULL,
    PRIMARY KEY (level, node_index)
);

-- A signed checkpoint after every integrated batch.
CREATE TABLE checkpoints (
    tree_size  bigint PRIMARY KEY,
    root_hash  bytea       NOT NULL,
    issued_at  timestamptz NOT NULL,
    note       bytea       NOT NULL,
    signature  bytea       NOT NULL,
    key_id     text        NOT NULL
);

CREATE FUNCTION refuse_log_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'the audit log is append-only: % on % refused', TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'insufficient_privilege';
END $$;

DO $$
DECLARE t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['entries', 'tree_nodes', 'checkpoints'] LOOP
        EXECUTE format('CREATE TRIGGER %1$s_no_change BEFORE UPDATE OR DELETE ON %1$s'
                       ' FOR EACH ROW EXECUTE FUNCTION refuse_log_change()', t);
        EXECUTE format('CREATE TRIGGER %1$s_no_truncate BEFORE TRUNCATE ON %1$s'
                       ' FOR EACH STATEMENT EXECUTE FUNCTION refuse_log_change()', t);
        EXECUTE format('ALTER TABLE %1$s ENABLE ALWAYS TRIGGER %1$s_no_change', t);
        EXECUTE format('ALTER TABLE %1$s ENABLE ALWAYS TRIGGER %1$s_no_truncate', t);
    END LOOP;
END $$;

-- Working state, not part of the log (rows change).
-- Face-system events accepted by Append, waiting for the sequencer.
CREATE TABLE inbox (
    event_id     uuid PRIMARY KEY,
    received_at  timestamptz NOT NULL DEFAULT clock_timestamp(),
    producer     text        NOT NULL,
    sequence     bigint,
    event_type   text        NOT NULL,
    subject_id   text        NOT NULL,
    occurred_at  timestamptz NOT NULL,
    payload      jsonb       NOT NULL
);

-- Where the sequencer continues on each Kafka partition; moves with the entries it integrated.
CREATE TABLE consumer_offsets (
    topic        text    NOT NULL,
    partition    integer NOT NULL,
    next_offset  bigint  NOT NULL,
    PRIMARY KEY (topic, partition)
);

-- Completeness per producer: every sequence up to complete_up_to is in the log.
CREATE TABLE producer_progress (
    producer             text PRIMARY KEY,
    complete_up_to       bigint NOT NULL DEFAULT 0,
    highest_seen         bigint NOT NULL DEFAULT 0,
    gap_since            timestamptz,
    replay_requested_at  timestamptz
);

GRANT SELECT, INSERT ON entries, tree_nodes, checkpoints TO consentry_audit_writer;
GRANT SELECT, INSERT, UPDATE, DELETE ON inbox, consumer_offsets, producer_progress TO consentry_audit_writer;
