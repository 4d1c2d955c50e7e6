-- CCPA Regs 7021(a): receipt is confirmed to the person within 10 business days. A request records
-- by when (NULL where the law asks for no acknowledgement) and when it was acknowledged.
ALTER TABLE requests ADD COLUMN acknowledgement_due_at timestamptz;
ALTER TABLE requests ADD COLUMN acknowledged_at timestamptz;
-- Open Californian requests received before: due the 10th weekday (UTC) after receipt, as
-- deadlines.add_working_days counts, and not acknowledged as far as Consentry knows.
UPDATE requests SET acknowledgement_due_at = (
    SELECT d FROM generate_series(received_at + interval '1 day', received_at + interval '20 days', interval '1 day') d
    WHERE extract(isodow FROM d AT TIME ZONE 'UTC') < 6 ORDER BY d OFFSET 9 LIMIT 1)
WHERE jurisdiction = 'US-CA' AND NOT automatic AND status NOT IN (5, 6, 7);
