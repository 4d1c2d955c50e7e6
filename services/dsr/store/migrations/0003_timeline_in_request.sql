-- A request's timeline moves into its row: every change of a request appends to it in the same
-- UPDATE, instead of a row of its own in another table (with its foreign-key check). The old table
-- stays while replicas of the previous version may still write it; a later migration drops it.
ALTER TABLE requests ADD COLUMN timeline jsonb NOT NULL DEFAULT '[]';
UPDATE requests r SET timeline = t.entries
FROM (SELECT request_id, jsonb_agg(jsonb_build_object('at', at, 'status', status, 'note', note) ORDER BY at) AS entries
      FROM request_timeline GROUP BY request_id) t
WHERE t.request_id = r.request_id;
