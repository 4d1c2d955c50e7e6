-- GDPR 7(1): the history proves each event on its own, whatever later happens to the record (which a
-- re-grant overwrites): what notice the person saw (version, language, hash), under which law, how
-- it was given or withdrawn and its evidence, who acted (and how a guardian was verified), and the
-- validity the grant carried. Of rows written before this version, only each record's latest grant
-- is known for certain (the record holds what that grant wrote); the rest stay unknown ('', 0).
ALTER TABLE consent_history
    ADD COLUMN notice_language           text        NOT NULL DEFAULT '',
    ADD COLUMN notice_hash               text        NOT NULL DEFAULT '',
    ADD COLUMN jurisdiction              text        NOT NULL DEFAULT '',
    ADD COLUMN collection_method         smallint    NOT NULL DEFAULT 0,  -- 0: not stated
    ADD COLUMN evidence_ref              text        NOT NULL DEFAULT '',
    ADD COLUMN guardian_verification_ref text        NOT NULL DEFAULT '',
    ADD COLUMN expires_at                timestamptz;

UPDATE consent_history h
SET notice_language = c.notice_language, notice_hash = c.notice_hash, jurisdiction = c.jurisdiction,
    collection_method = c.collection_method, evidence_ref = c.evidence_ref,
    guardian_verification_ref = c.guardian_verification_ref, expires_at = c.expires_at
FROM consents c
WHERE c.consent_id = h.consent_id AND h.id = (
    SELECT max(id) FROM consent_history g WHERE g.consent_id = c.consent_id AND g.event_type = 'consent.granted');
