-- A verified request is claimed by the orchestrator that carries out Consentry's own part (consents
-- erased, key shredded: nothing to undo), so it cannot be rejected meanwhile nor started twice. The
-- claim has an end, so a starter that crashed leaves the request to the next one.
ALTER TABLE requests ADD COLUMN starting_until timestamptz;
