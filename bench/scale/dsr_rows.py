"""Data-subject requests as the dsr service writes them (services/dsr/store/repository.py: `add`,
`save`, `add_tasks`, `settle`, `forget_people`, `forget_settled`; its migrations), generated in bulk
over three years of history: every row goes through the states the service moves a request through,
with its timeline, deadlines, tasks and what the service forgets, and when.

Row i (oldest first, evenly spread over `SPAN`) is, by fixed arithmetic on i:
- of type ACCESS 30 %, DELETION 40 %, WITHDRAWAL 15 % (opened by the system from consent.withdrawn:
  verified at once, no acknowledgement), CORRECTION 10 %, PORTABILITY 5 %;
- under CN 60 % (15 working days), DE 25 % (GDPR: a month), US-CA 15 % (CCPA: 45 days, receipt
  acknowledged within 10 working days);
- still waiting for its identity check (VERIFICATION_PENDING) if received in the last two days, or in
  the last 45 days for one in four (those past their deadline are the overdue ones); otherwise
  REJECTED (identity not verified, 6 % of the others) or COMPLETED by both face gates (two CONFIRMED
  tasks); nothing is VERIFIED or IN_PROGRESS, which the service's own loops would pick up;
- forgotten as the service forgets: a completed deletion at once (its subject replaced by a
  tombstone), everything else 30 days (the default retention) after it settled.
The erasure certificate of a deletion and an access request's export are placeholders of a
realistic length (their content is checked by nothing that lists requests)."""

from __future__ import annotations

SPAN = "1095 days"
PROCESSORS = ("face-gate-a", "face-gate-b")
PURPOSE = "bench-gate-access"
CONTROLLER = "bench-campus"

PROCESSOR_ROWS = f"""INSERT INTO processors (name, capabilities, purpose_ids, registered_at, controller_id)
SELECT name, '{{access,delete,correct}}', '{{{PURPOSE}}}', now() - interval '{SPAN}', '{CONTROLLER}'
FROM unnest('{{{",".join(PROCESSORS)}}}'::text[]) AS name ON CONFLICT DO NOTHING"""

# $1, $2: first and last row; $3: rows in all; $4: the load's "now"; $5: people (subjects).
_ISO = "to_char(({0}) AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US') || '+00:00'"  # Python's isoformat()
_ENTRY = "jsonb_build_array(jsonb_build_object('at', " + _ISO + ", 'status', {1}, 'note', {2}))"
# Working days counted as add_working_days counts them: from a weekday, n weeks of them are 7n days;
# from a Saturday one day fewer, from a Sunday two.
_WEEKEND = "greatest(extract(isodow FROM received_at AT TIME ZONE 'UTC') - 5, 0) * interval '1 day'"

REQUESTS = f"""
WITH g AS (
    SELECT i, (i * 7919) % 100 AS r, (i * 31) % 20 AS t, (i * 13) % 20 AS j,
           $4::timestamptz - interval '{SPAN}' + ((i + 0.5) / $3) * interval '{SPAN}' AS received_at,
           'dsr-subj-' || lpad(((i * 104729) % $5)::text, 9, '0') AS person
    FROM generate_series($1::bigint, $2::bigint) AS i),
k AS (
    SELECT g.*, CASE WHEN t < 6 THEN 1 WHEN t < 14 THEN 3 WHEN t < 17 THEN 4 WHEN t < 19 THEN 2 ELSE 5 END AS type,
           CASE WHEN j < 12 THEN 'CN' WHEN j < 17 THEN 'DE' ELSE 'US-CA' END AS jurisdiction
    FROM g),
s AS (
    SELECT k.*, type = 4 AS automatic,
           CASE WHEN type <> 4 AND (received_at > $4 - interval '2 days'
                                    OR (received_at > $4 - interval '45 days' AND r < 25)) THEN 2
                WHEN type <> 4 AND r >= 94 THEN 6 ELSE 5 END AS status,
           CASE jurisdiction WHEN 'CN' THEN 'PIPL Art. 50 (regulator''s practice)' WHEN 'DE' THEN 'GDPR Art. 12(3)'
                ELSE 'CCPA 1798.130' END AS law,
           CASE jurisdiction WHEN 'CN' THEN received_at + interval '21 days' - {_WEEKEND}
                WHEN 'DE' THEN received_at + interval '1 month' ELSE received_at + interval '45 days' END AS due_at,
           CASE WHEN jurisdiction = 'US-CA' AND type <> 4 THEN received_at + interval '14 days' - {_WEEKEND}
                END AS acknowledgement_due_at,
           received_at + CASE WHEN type = 4 THEN interval '0' ELSE (1 + (i * 7) % 48) * interval '1 hour' END
               AS verified_at,
           uuidv7(received_at - $4)::text AS request_id
    FROM k),
d AS (
    SELECT s.*, CASE status WHEN 5 THEN verified_at + interval '60 seconds' WHEN 6 THEN verified_at END AS settled_at,
           CASE WHEN type = 3 AND status = 5 THEN 'erased:' || encode(sha256(convert_to(person, 'UTF8')), 'hex')
                ELSE person END AS subject_id,
           jurisdiction = 'US-CA' AND type <> 4 AND status <> 2 AS acknowledged
    FROM s),
f AS (
    SELECT d.*, CASE WHEN type = 3 AND status = 5 THEN settled_at
                     WHEN settled_at + interval '30 days 1 hour' < $4 THEN settled_at + interval '30 days 1 hour'
                END AS forgotten_at
    FROM d),
rows AS (
    SELECT f.*,
        {_ENTRY.format("received_at", 1, "'due under ' || law")}
        || CASE WHEN automatic THEN {_ENTRY.format("received_at", 3,
                "'opened from a consent event: the person was authenticated there'")}
           ELSE {_ENTRY.format("received_at", 2, "'waiting for the identity evidence to be checked'")} END
        || CASE WHEN acknowledged THEN {_ENTRY.format("received_at + (verified_at - received_at) / 2", 2,
                "'receipt acknowledged to the person'")} ELSE '[]' END
        || CASE status WHEN 6 THEN {_ENTRY.format("verified_at", 6, "'the evidence did not match'")}
           WHEN 5 THEN (CASE WHEN automatic THEN '[]' ELSE {_ENTRY.format("verified_at", 3, "'identity verified'")} END)
               || {_ENTRY.format("verified_at + interval '2 seconds'", 4,
                                 "'2 processor(s) asked: " + ", ".join(PROCESSORS) + "'")}
               || {_ENTRY.format("settled_at", 5, "'confirmed by 2 processor(s)'")}
           ELSE '[]' END AS timeline,
        CASE status WHEN 2 THEN 'waiting for the identity evidence to be checked' WHEN 6 THEN 'the evidence did not match'
             ELSE 'confirmed by 2 processor(s)' END AS status_reason
    FROM f),
saved AS (
    INSERT INTO requests (request_id, type, subject_id, jurisdiction, status, received_at, due_at, purpose_id,
        corrections, details, evidence_method, evidence_ref, extended, extension_reason, status_reason,
        rejection_code, rejection_explanation, complaint_route, certificate, certificate_signature, automatic,
        export_json, timeline, starting_until, starting_by, settled_at, forgotten_at, acknowledgement_due_at,
        acknowledged_at, controller_id, export_released_at)
    SELECT request_id, type, subject_id, jurisdiction, status, received_at, due_at,
        CASE WHEN type = 4 THEN '{PURPOSE}' ELSE '' END,
        CASE WHEN type = 2 AND forgotten_at IS NULL THEN '{{"display_name": "Corrected Name"}}' ELSE '{{}}' END::jsonb,
        '', CASE WHEN automatic THEN '' ELSE 'id-document' END,
        CASE WHEN automatic OR forgotten_at IS NOT NULL THEN '' ELSE 'bench-evidence-' || i END,
        false, '', status_reason,
        CASE WHEN status = 6 THEN 'identity-not-verified' END, CASE WHEN status = 6 THEN 'the evidence did not match' END,
        CASE WHEN status = 6 THEN 'the competent data protection authority' END,
        CASE WHEN type = 3 AND status = 5 THEN convert_to(repeat('{{"erasure-certificate":"' || request_id || '"}}', 8), 'UTF8')
             ELSE ''::bytea END,
        CASE WHEN type = 3 AND status = 5 THEN sha512(convert_to(request_id, 'UTF8')) ELSE ''::bytea END,
        automatic,
        CASE WHEN type IN (1, 5) AND status = 5 AND forgotten_at IS NULL
             THEN convert_to(repeat('{{"consents":[],"key":"active","processors":{{}}}}', 32), 'UTF8') END,
        timeline, CASE WHEN status = 5 THEN verified_at + interval '15 seconds' END,
        CASE WHEN status = 5 THEN md5(received_at::date::text) END,
        settled_at, forgotten_at, acknowledgement_due_at,
        CASE WHEN acknowledged THEN received_at + (verified_at - received_at) / 2 END, '{CONTROLLER}',
        CASE WHEN type IN (1, 5) AND status = 5 THEN settled_at + interval '1 hour' END
    FROM rows
    RETURNING request_id, type, status, settled_at, forgotten_at)
INSERT INTO tasks (task_id, request_id, processor, action, state, attempts, reason, next_attempt_at, confirmed_at,
                   data_json, result_key)
SELECT uuidv7(settled_at - interval '58 seconds' - $4)::text, request_id, p.name,
       CASE WHEN type IN (1, 5) THEN 'access' WHEN type = 2 THEN 'correct' ELSE 'delete' END, 'CONFIRMED', 1, 'done',
       NULL, settled_at - interval '1 second',
       CASE WHEN type IN (1, 5) AND forgotten_at IS NULL THEN convert_to('{{"templates":1}}', 'UTF8') ELSE ''::bytea END,
       CASE WHEN type IN (1, 5) AND forgotten_at IS NULL THEN sha256(convert_to(request_id || p.name, 'UTF8')) END
FROM saved CROSS JOIN unnest('{{{",".join(PROCESSORS)}}}'::text[]) AS p(name)
WHERE status = 5
"""
