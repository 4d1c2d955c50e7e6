-- The controllers purposes belong to. Every controller already named by a purpose is registered here
-- under its id as its legal name, with no address or contact yet, so existing purposes, grants and
-- receipts go on working; an operator completes them with RegisterController's details later.
CREATE TABLE controllers (
    controller_id  text        PRIMARY KEY,
    legal_name     text        NOT NULL,
    address        text        NOT NULL DEFAULT '',
    contact        text        NOT NULL DEFAULT '',
    jurisdiction   text        NOT NULL DEFAULT '',
    created_at     timestamptz NOT NULL DEFAULT now()
);

INSERT INTO controllers (controller_id, legal_name)
SELECT DISTINCT controller_id, controller_id FROM purposes
ON CONFLICT (controller_id) DO NOTHING;
