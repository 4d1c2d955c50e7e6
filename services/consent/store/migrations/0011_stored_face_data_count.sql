-- The filing count (Face Recognition Measures Art. 15) kept up to date by PostgreSQL as consents and
-- purposes change, so GetFilingStatus and the filing sweep read a row per controller and the changes
-- since the last sweep instead of counting over every consent. What is counted is unchanged: per
-- controller, the distinct people with a consent GIVEN or RENEWAL_REQUIRED to a purpose whose storage
-- location is SERVER.
--
-- No grant waits for another person's:
--   stored_face_data_subjects  per person, how many of their consents count. Only writes about the
--                              same person meet on its row. The row goes when the last one stops
--                              counting (erasure too), so no one's id stays here after that.
--   stored_face_data_changes   +1 when a person starts counting, -1 when they stop; only inserted,
--                              so writes about different people never meet.
--   stored_face_data_counts    the changes folded so far, per controller (the filing sweep folds).
-- A controller's count is its folded total plus its changes not folded yet.

-- Writers of purposes, then of consents, wait until this migration commits: the triggers below keep
-- the count from then on, the backfill at the end counts what was there before. Both locks at the
-- start, in the order a notice publication takes them, so that one in flight finishes first rather
-- than deadlocking with this.
-- A writer that keeps its transaction open (a long expiry batch, a session left idle in one) would keep
-- this waiting, and every writer queued behind it: past the timeout the migration fails, the service
-- does not start, and the next start tries again.
SET LOCAL lock_timeout = '10s';
LOCK TABLE purposes, consents IN SHARE ROW EXCLUSIVE MODE;

CREATE TABLE stored_face_data_subjects (
    controller_id text    NOT NULL,
    subject_id    text    NOT NULL,
    consents      integer NOT NULL,
    PRIMARY KEY (controller_id, subject_id)
);

CREATE TABLE stored_face_data_changes (
    controller_id text     NOT NULL,
    change        smallint NOT NULL  -- +1 or -1; no person in it
);

CREATE TABLE stored_face_data_counts (
    controller_id text   PRIMARY KEY,
    people        bigint NOT NULL
);

-- The one definition of a consent that counts.
CREATE FUNCTION stores_face_data(state smallint, storage_location smallint) RETURNS boolean
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    RETURN state IN (1, 4) AND storage_location = 2;  -- GIVEN or RENEWAL_REQUIRED; SERVER

-- Moves a person's number of counting consents by `delta` (either sign), noting when they start or
-- stop counting. A row never stays at zero past its transaction, so "now equals delta" means "was 0".
-- A decrease with no row to take it from would be a count already wrong: it is let pass rather than
-- failing the withdrawal or erasure that caused it.
CREATE FUNCTION count_stored_face_data(of_controller text, of_subject text, delta integer) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    held integer;
BEGIN
    IF delta > 0 THEN
        INSERT INTO stored_face_data_subjects AS s (controller_id, subject_id, consents)
        VALUES (of_controller, of_subject, delta)
        ON CONFLICT (controller_id, subject_id) DO UPDATE SET consents = s.consents + delta
        RETURNING consents INTO held;
        IF held = delta THEN
            INSERT INTO stored_face_data_changes (controller_id, change) VALUES (of_controller, 1);
        END IF;
    ELSIF delta < 0 THEN
        -- The row stays locked to the end of the transaction: no one else moves it between these statements.
        UPDATE stored_face_data_subjects SET consents = consents + delta
        WHERE controller_id = of_controller AND subject_id = of_subject
        RETURNING consents INTO held;
        IF held <= 0 THEN
            DELETE FROM stored_face_data_subjects WHERE controller_id = of_controller AND subject_id = of_subject;
            INSERT INTO stored_face_data_changes (controller_id, change) VALUES (of_controller, -1);
        END IF;
    END IF;
END $$;

-- Per statement, the people whose counting consents it changed, in one order: two statements about
-- the same people (expiry sweeps of two replicas) lock their rows in the same order, never in a cycle.
-- An update counts each old row out and each new row in; where nothing that counts changed (a renewed
-- grant, an interaction, renewal required), the two cancel and nothing is written.
CREATE FUNCTION count_changed_consents() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    person record;
BEGIN
    IF TG_OP = 'INSERT' THEN
        FOR person IN
            SELECT n.controller_id, n.subject_id, count(*)::integer AS delta
            FROM new_rows n JOIN purposes p USING (purpose_id, controller_id)
            WHERE stores_face_data(n.state, p.storage_location)
            GROUP BY 1, 2 ORDER BY 1, 2
        LOOP
            PERFORM count_stored_face_data(person.controller_id, person.subject_id, person.delta);
        END LOOP;
    ELSIF TG_OP = 'DELETE' THEN
        FOR person IN
            SELECT o.controller_id, o.subject_id, -count(*)::integer AS delta
            FROM old_rows o JOIN purposes p USING (purpose_id, controller_id)
            WHERE stores_face_data(o.state, p.storage_location)
            GROUP BY 1, 2 ORDER BY 1, 2
        LOOP
            PERFORM count_stored_face_data(person.controller_id, person.subject_id, person.delta);
        END LOOP;
    ELSE
        FOR person IN
            SELECT controller_id, subject_id, sum(delta)::integer AS delta FROM (
                SELECT n.controller_id, n.subject_id, 1 AS delta
                FROM new_rows n JOIN purposes p USING (purpose_id, controller_id)
                WHERE stores_face_data(n.state, p.storage_location)
                UNION ALL
                SELECT o.controller_id, o.subject_id, -1
                FROM old_rows o JOIN purposes p USING (purpose_id, controller_id)
                WHERE stores_face_data(o.state, p.storage_location)) AS counted
            GROUP BY 1, 2 HAVING sum(delta) <> 0 ORDER BY 1, 2
        LOOP
            PERFORM count_stored_face_data(person.controller_id, person.subject_id, person.delta);
        END LOOP;
    END IF;
    RETURN NULL;
END $$;

-- A purpose whose storage location changes takes all its consents into the count or out of it (no
-- code path changes it today; an operator's UPDATE must not leave the count wrong). Consents are
-- locked against writes first: a writer that read the old location has committed before the scan,
-- which so sees its row, and one that comes after reads the new location (at READ COMMITTED, which
-- every writer of consents uses). Deleting a purpose, or changing its key, is refused while a
-- consent refers to it.
CREATE FUNCTION count_moved_purpose() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    person record;
BEGIN
    LOCK TABLE consents IN SHARE MODE;
    FOR person IN
        SELECT subject_id, (count(*) FILTER (WHERE stores_face_data(state, NEW.storage_location))
                            - count(*) FILTER (WHERE stores_face_data(state, OLD.storage_location)))::integer AS delta
        FROM consents WHERE purpose_id = NEW.purpose_id AND controller_id = NEW.controller_id
        GROUP BY subject_id ORDER BY subject_id
    LOOP
        PERFORM count_stored_face_data(NEW.controller_id, person.subject_id, person.delta);
    END LOOP;
    RETURN NULL;
END $$;

-- The count taken afresh from the consents: the backfill below, and after a bulk load that ran
-- without triggers (session_replication_role = replica). Writers of consents and purposes wait.
CREATE FUNCTION recount_stored_face_data() RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    LOCK TABLE purposes, consents IN SHARE MODE;
    TRUNCATE stored_face_data_subjects, stored_face_data_changes, stored_face_data_counts;
    INSERT INTO stored_face_data_subjects (controller_id, subject_id, consents)
    SELECT c.controller_id, c.subject_id, count(*)
    FROM consents c JOIN purposes p USING (purpose_id, controller_id)
    WHERE stores_face_data(c.state, p.storage_location)
    GROUP BY 1, 2;
    INSERT INTO stored_face_data_counts (controller_id, people)
    SELECT controller_id, count(*) FROM stored_face_data_subjects GROUP BY 1;
END $$;

CREATE TRIGGER consents_counted_inserted AFTER INSERT ON consents REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION count_changed_consents();
CREATE TRIGGER consents_counted_updated AFTER UPDATE ON consents
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION count_changed_consents();
CREATE TRIGGER consents_counted_deleted AFTER DELETE ON consents REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION count_changed_consents();
CREATE TRIGGER purposes_counted AFTER UPDATE OF storage_location ON purposes
    FOR EACH ROW WHEN (OLD.storage_location IS DISTINCT FROM NEW.storage_location)
    EXECUTE FUNCTION count_moved_purpose();

SELECT recount_stored_face_data();
