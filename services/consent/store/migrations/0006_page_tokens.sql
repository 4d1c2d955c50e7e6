-- Secrets every replica shares, made once: the key that binds page tokens to their query.
CREATE TABLE service_secrets (
    name    text PRIMARY KEY,
    secret  bytea NOT NULL
);

-- A controller's purposes, for ListPurposes by controller.
CREATE INDEX purposes_by_controller ON purposes (controller_id, purpose_id);
