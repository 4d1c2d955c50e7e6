-- The filing state (Face Recognition Measures Art. 15) last announced for each controller, so each
-- crossing of a mark is announced once, whichever replica's sweep sees it first. No person in it.
CREATE TABLE filing_states (
    controller_id text        PRIMARY KEY,
    state         smallint    NOT NULL,  -- FilingState: 1 below, 2 approaching, 3 filing required
    changed_at    timestamptz NOT NULL
);
