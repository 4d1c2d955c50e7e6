"""Consent records as the consent service writes them: each loaded record is a copy of one the service
itself wrote for a GrantConsent (the template: its row in `consents` and its `consent.granted` row in
`consent_history`, services/consent/store/repository.py `save_granted`) with its own
subject and times. Subject i is "scale-subj-" and i in 9 digits; record ids and event ids are UUIDv7 of
the grant's time, as the service makes them; grants are spread evenly over the 300 days before the
load, so every record is in force (retention 365 days, inactivity 3 years) and the checks ALLOW.

What a grant writes beside them (an outbox row, pruned once published; an idempotency record,
forgotten after its retention; the subject's event key) is not loaded: CheckConsent reads none of it."""

from __future__ import annotations

TEMPLATE_SUBJECT = "scale-template"

_CONSENT_COLUMNS = ("purpose_id, controller_id, state, notice_version, notice_language, notice_hash, jurisdiction,"
                    " collection_method, evidence_ref, actor_kind, guardian_id, guardian_verification_ref, subject_age,"
                    " alternative_offered")
_HISTORY_COLUMNS = ("event_type, state, notice_version, actor_kind, guardian_id, reason, notice_language,"
                    " notice_hash, jurisdiction, collection_method, evidence_ref, guardian_verification_ref")

# Each loading connection's copy of the template (TEMP tables: gone with the connection).
TEMPLATE = [f"CREATE TEMP TABLE template_consent AS SELECT * FROM consents WHERE subject_id = '{TEMPLATE_SUBJECT}'",
            "CREATE TEMP TABLE template_history AS SELECT h.* FROM consent_history h JOIN template_consent"
            " USING (consent_id) WHERE h.event_type = 'consent.granted'"]

# $1, $2: first and last row; $3: rows in all; $4: the load's "now".
CONSENTS = f"""
WITH g AS (SELECT i, $4::timestamptz - interval '300 days' + ((i + 0.5) / $3) * interval '299 days' AS at
      FROM generate_series($1::bigint, $2::bigint) AS i),
saved AS (
    INSERT INTO consents (consent_id, subject_id, granted_at, expires_at, last_interaction_at, updated_at,
                          {_CONSENT_COLUMNS})
    SELECT uuidv7(g.at - $4), 'scale-subj-' || lpad(g.i::text, 9, '0'), g.at, g.at + (t.expires_at - t.granted_at),
           g.at, g.at, {", ".join("t." + c.strip() for c in _CONSENT_COLUMNS.split(","))}
    FROM g CROSS JOIN template_consent AS t
    RETURNING consent_id, granted_at, expires_at)
INSERT INTO consent_history (consent_id, event_id, occurred_at, expires_at, {_HISTORY_COLUMNS})
SELECT saved.consent_id, uuidv7(saved.granted_at - $4), saved.granted_at, saved.expires_at,
       {", ".join("h." + c.strip() for c in _HISTORY_COLUMNS.split(","))}
FROM saved CROSS JOIN template_history AS h
"""

# What the template grant left: one record and its one history row, or the copies would be wrong.
TEMPLATE_ROWS = ("SELECT count(*) FROM consents c JOIN consent_history h USING (consent_id)"
                 " WHERE c.subject_id = $1 AND h.event_type = 'consent.granted'")
