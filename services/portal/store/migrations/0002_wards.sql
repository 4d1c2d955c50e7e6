-- The minors a person manages as their guardian, as the app named them when asking for the link:
-- [{"subject_id", "verification_ref", "label"}]. They go with the link and the session.
ALTER TABLE sign_in_links ADD COLUMN wards jsonb NOT NULL DEFAULT '[]';
ALTER TABLE sessions ADD COLUMN wards jsonb NOT NULL DEFAULT '[]';
