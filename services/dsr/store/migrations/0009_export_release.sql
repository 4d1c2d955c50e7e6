-- An access request's export is held for staff to review and given to the person once released.
ALTER TABLE requests ADD COLUMN export_released_at timestamptz;
-- Exports written before the review existed were given to the person as the request completed.
UPDATE requests SET export_released_at = coalesce(settled_at, now()) WHERE type IN (1, 5) AND status IN (5, 7);
