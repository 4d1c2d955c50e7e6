-- When an operator disabled the account (its holder left, or it is no longer trusted); NULL: it may
-- sign in. A disabled account keeps its row, so the audit log's entries still name a known account.
ALTER TABLE staff_accounts ADD COLUMN disabled_at timestamptz;
