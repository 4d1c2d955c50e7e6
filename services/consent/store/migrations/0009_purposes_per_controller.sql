-- A purpose id is unique within its controller, not across the platform: two controllers may each
-- register "gate-access", and neither learns from the other's. Every key that held a purpose id
-- alone now holds it with its controller. Notices learn their purpose's controller; a consent's
-- controller was always its purpose's, which the new foreign key checks.
ALTER TABLE notices ADD COLUMN controller_id text;
UPDATE notices n SET controller_id = p.controller_id FROM purposes p WHERE p.purpose_id = n.purpose_id;
ALTER TABLE notices ALTER COLUMN controller_id SET NOT NULL;

ALTER TABLE notices DROP CONSTRAINT notices_purpose_id_fkey, DROP CONSTRAINT notices_pkey;
ALTER TABLE consents DROP CONSTRAINT consents_purpose_id_fkey, DROP CONSTRAINT consents_subject_id_purpose_id_key;
ALTER TABLE purposes DROP CONSTRAINT purposes_pkey, ADD PRIMARY KEY (purpose_id, controller_id);

ALTER TABLE notices ADD PRIMARY KEY (purpose_id, controller_id, version, language),
    ADD FOREIGN KEY (purpose_id, controller_id) REFERENCES purposes;
ALTER TABLE consents ADD CONSTRAINT consents_one_per_controller UNIQUE USING INDEX consents_one_per_controller,
    ADD FOREIGN KEY (purpose_id, controller_id) REFERENCES purposes NOT VALID;
ALTER TABLE consents VALIDATE CONSTRAINT consents_purpose_id_controller_id_fkey;
