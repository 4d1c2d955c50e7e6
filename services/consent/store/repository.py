"""The consent service's PostgreSQL store. Every method runs on the unit of work's connection,
inside its transaction."""

from datetime import datetime

import asyncpg

from services.common.erasure import TOMBSTONE_PREFIX
from services.common.event_keys import destroy_event_keys
from services.common.outbox_retention import redact_persons
from services.consent.domain.filing import FilingState
from services.consent.domain.model import (
    INACTIVITY_LIMIT, Consent, ConsentSnapshot, ConsentState, Notice, Purpose, StorageLocation,
)
from services.consent.domain.history import HistoryEntry
from services.consent.domain.controller import Controller
from services.consent.store.rows import (
    CONSENT_COLUMNS, HISTORY_COLUMNS as _HISTORY_COLUMNS, consent_from_row, consent_values, controller_from_row,
    history_from_row,
    history_values, notice_from_row, purpose_from_row,
)

_PLACEHOLDERS = ", ".join(f"${i}" for i in range(1, 21))
# The consent columns as arrays (save_granted), then the history's event ids and the subjects' tags.
_GRANTED_ARRAYS = ", ".join(f"${i}::{t}[]" for i, t in enumerate(
    "uuid text text text smallint int text text text smallint text smallint text text smallint bool"
    " timestamptz timestamptz timestamptz timestamptz uuid text".split(), start=1))
_UPDATES = ", ".join(f"{col.strip()} = EXCLUDED.{col.strip()}" for col in CONSENT_COLUMNS.split(",")[4:])
GIVEN = ConsentState.GIVEN.value
# Advisory lock space (the two-key form, apart from the single-key locks of migrations and the outbox
# relay) of a subject at a controller, keyed by their tag: a grant holds it shared from its first
# read, an erasure exclusively, so neither writes a record of the person the other cannot see.
_SUBJECT_LOCK = 1


def _listed(visible: frozenset[str] | None) -> list[str] | None:
    return sorted(visible) if visible is not None else None


class ConsentStore:
    def __init__(self, conn: asyncpg.Connection) -> None:
        self._conn = conn

    # Controllers

    async def add_controller(self, c: Controller) -> tuple[Controller, bool]:
        """The controller on record under its id, and whether this call registered it."""
        row = await self._conn.fetchrow(
            "INSERT INTO controllers (controller_id, legal_name, address, contact, jurisdiction)"
            " VALUES ($1,$2,$3,$4,$5) ON CONFLICT (controller_id) DO NOTHING RETURNING *",
            c.controller_id, c.legal_name, c.address, c.contact, c.jurisdiction)
        if row is not None:
            return controller_from_row(row), True
        existing = await self.controller(c.controller_id)
        assert existing is not None  # controllers are never deleted
        return existing, False

    async def complete_controller(self, c: Controller) -> Controller | None:
        """Fills in the details of a controller the migration registered from its purposes alone (no
        address, no contact); None if it has details already."""
        row = await self._conn.fetchrow(
            "UPDATE controllers SET legal_name = $2, address = $3, contact = $4, jurisdiction = $5"
            " WHERE controller_id = $1 AND address = '' AND contact = '' RETURNING *",
            c.controller_id, c.legal_name, c.address, c.contact, c.jurisdiction)
        return controller_from_row(row) if row else None

    async def controller(self, controller_id: str) -> Controller | None:
        row = await self._conn.fetchrow("SELECT * FROM controllers WHERE controller_id = $1", controller_id)
        return controller_from_row(row) if row else None

    # Purposes and notices

    async def add_purpose(self, p: Purpose) -> Purpose | None:
        """None if its controller already has a purpose of that id."""
        row = await self._conn.fetchrow(
            "INSERT INTO purposes (purpose_id, controller_id, name, description, data_categories,"
            " storage_location, retention, legal_basis, non_face_alternative, minimum_age, pia_reference,"
            " recipients, withdrawal_method) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13)"
            " ON CONFLICT (purpose_id, controller_id) DO NOTHING RETURNING *",
            p.purpose_id, p.controller_id, p.name, p.description, [c.value for c in p.data_categories],
            p.storage_location.value, p.retention, p.legal_basis.value, p.non_face_alternative, p.minimum_age,
            p.pia_reference, list(p.recipients), p.withdrawal_method,
        )
        return purpose_from_row(row) if row else None

    async def purpose(self, controller_id: str, purpose_id: str, *, for_update: bool = False) -> Purpose | None:
        """None if the controller has no such purpose (whoever else has one of that id)."""
        lock = " FOR UPDATE" if for_update else ""
        row = await self._conn.fetchrow(
            f"SELECT * FROM purposes WHERE purpose_id = $1 AND controller_id = $2{lock}", purpose_id, controller_id)
        return purpose_from_row(row) if row else None

    async def purpose_holders(self, purpose_id: str, limit: int) -> list[str]:
        """The controllers with a purpose of this id, at most `limit` of them."""
        return [r["controller_id"] for r in await self._conn.fetch(
            "SELECT controller_id FROM purposes WHERE purpose_id = $1 ORDER BY controller_id LIMIT $2",
            purpose_id, limit)]

    async def purposes(self, controller_id: str, visible: frozenset[str] | None, after: tuple[str, str],
                       limit: int) -> list[Purpose]:
        """By purpose_id then controller_id, after `after` (such a pair); one controller's if
        `controller_id`; `visible` None means all."""
        rows = await self._conn.fetch(
            "SELECT * FROM purposes WHERE (purpose_id, controller_id) > ($1, $5) AND ($2 = '' OR controller_id = $2)"
            " AND ($3::text[] IS NULL OR purpose_id = ANY($3)) ORDER BY purpose_id, controller_id LIMIT $4",
            after[0], controller_id, _listed(visible), limit, after[1])
        return [purpose_from_row(r) for r in rows]

    async def notices(self, controller_id: str, purpose_id: str) -> list[Notice]:
        rows = await self._conn.fetch(
            "SELECT * FROM notices WHERE purpose_id = $1 AND controller_id = $2 ORDER BY version, language",
            purpose_id, controller_id)
        return [notice_from_row(r) for r in rows]

    async def hold_purpose(self, controller_id: str, purpose_id: str) -> None:
        """The lock a record's key to its purpose takes (FOR KEY SHARE), taken before the records."""
        await self._conn.execute("SELECT FROM purposes WHERE purpose_id = $1 AND controller_id = $2 FOR KEY SHARE",
                                 purpose_id, controller_id)

    async def grant_contexts(self, asks: list[tuple[str, str, int, str, str]]
                             ) -> list[tuple[bool, Purpose | None, Notice | None, Controller | None]]:
        """For each (subject tag, purpose id, notice version, language, controller), in one round trip:
        is the subject (of that controller) erased, the purpose if it is the controller's, the notice
        version the person saw, and the purpose's controller as registered. Holds each subject against
        an erasure until commit (_SUBJECT_LOCK), taking the locks in the order asked."""
        rows = await self._conn.fetch(
            "SELECT EXISTS (SELECT 1 FROM erased_subjects WHERE subject_tag = a.tag) AS erased,"
            " p AS purpose, n AS notice, c AS controller"
            " FROM unnest($1::text[], $2::text[], $3::int[], $4::text[], $5::text[]) WITH ORDINALITY"
            " AS a(tag, purpose_id, version, language, within, asked)"
            f" CROSS JOIN LATERAL (SELECT pg_advisory_xact_lock_shared({_SUBJECT_LOCK}, hashtext(a.tag))) AS held"
            " LEFT JOIN purposes p ON p.purpose_id = a.purpose_id AND p.controller_id = a.within"
            " LEFT JOIN notices n ON n.purpose_id = p.purpose_id AND n.controller_id = p.controller_id"
            " AND n.version = a.version AND n.language = a.language"
            " LEFT JOIN controllers c ON c.controller_id = p.controller_id ORDER BY a.asked",
            *(list(column) for column in zip(*asks, strict=True)))
        return [(row["erased"],
                 purpose_from_row(row["purpose"]) if row["purpose"] is not None else None,
                 notice_from_row(row["notice"]) if row["notice"] is not None else None,
                 controller_from_row(row["controller"]) if row["controller"] is not None else None) for row in rows]

    async def add_notices(self, controller_id: str, notices: list[Notice]) -> None:
        """One version of one purpose of the controller, in each of its languages."""
        await self._conn.executemany(
            "INSERT INTO notices (purpose_id, controller_id, version, language, text, content_hash, material_change,"
            " published_at) VALUES ($1,$2,$3,$4,$5,$6,$7,$8)",
            [(n.purpose_id, controller_id, n.version, n.language, n.text, n.content_hash, n.material_change,
              n.published_at) for n in notices])
        await self._conn.execute(
            "UPDATE purposes SET current_notice_version = $2 WHERE purpose_id = $1 AND controller_id = $3",
            notices[0].purpose_id, notices[0].version, controller_id)

    async def require_renewal(self, controller_id: str, purpose_id: str, below_version: int,
                              at: datetime) -> list[Consent]:
        rows = await self._conn.fetch(
            f"UPDATE consents SET state = $3, updated_at = $4 WHERE purpose_id = $1 AND controller_id = $5"
            f" AND state = {GIVEN} AND notice_version < $2 RETURNING {CONSENT_COLUMNS}",
            purpose_id, below_version, ConsentState.RENEWAL_REQUIRED.value, at, controller_id)
        return [consent_from_row(r) for r in rows]

    # Consents

    async def consent(self, controller_id: str, subject_id: str, purpose_id: str, *,
                      for_update: bool = False) -> Consent | None:
        """The subject's record of the controller's purpose; None if there is none."""
        lock = " FOR UPDATE" if for_update else ""
        row = await self._conn.fetchrow(
            f"SELECT {CONSENT_COLUMNS} FROM consents WHERE subject_id = $1 AND purpose_id = $2"
            f" AND controller_id = $3{lock}",
            subject_id, purpose_id, controller_id)
        return consent_from_row(row) if row else None

    async def save_consent(self, c: Consent) -> str:
        """Inserts or replaces the one record of (subject, purpose) at the controller; returns its id,
        which an existing record keeps."""
        return str(await self._conn.fetchval(
            f"INSERT INTO consents ({CONSENT_COLUMNS}) VALUES ({_PLACEHOLDERS})"
            f" ON CONFLICT (subject_id, purpose_id, controller_id) DO UPDATE SET {_UPDATES} RETURNING consent_id",
            *consent_values(c)))

    async def save_granted(self, granted: list[tuple[Consent, str, str]], event_type: str, at: datetime
                           ) -> dict[str, str]:
        """Each (consent, event id, subject tag) saved with its history entry, in one round trip (the
        grant path; one record per subject and purpose in a call). Returns the record id of each event
        saved; one missing was not, its subject erased (by an erasure that committed while
        grant_contexts waited)."""
        rows = await self._conn.fetch(
            f"WITH given AS (SELECT * FROM unnest({_GRANTED_ARRAYS}) AS g({CONSENT_COLUMNS}, event_id, tag)),"
            f" saved AS (INSERT INTO consents ({CONSENT_COLUMNS}) SELECT {CONSENT_COLUMNS} FROM given"
            " WHERE NOT EXISTS (SELECT 1 FROM erased_subjects WHERE subject_tag = given.tag)"
            f" ON CONFLICT (subject_id, purpose_id, controller_id) DO UPDATE SET {_UPDATES}"
            " RETURNING consent_id, subject_id, purpose_id, controller_id)"
            f" INSERT INTO consent_history ({_HISTORY_COLUMNS}) SELECT s.consent_id, g.event_id, $23, g.state,"
            " g.notice_version, g.notice_language, g.notice_hash, g.jurisdiction, g.collection_method, g.evidence_ref,"
            " g.actor_kind, g.guardian_id, g.guardian_verification_ref, g.expires_at, '', $24"
            " FROM saved s JOIN given g USING (subject_id, purpose_id, controller_id) RETURNING event_id, consent_id",
            *(list(column) for column in zip(*(consent_values(c) + (event_id, tag) for c, event_id, tag in granted),
                                             strict=True)), event_type, at)
        return {str(row["event_id"]): str(row["consent_id"]) for row in rows}

    async def consents_of(self, subject_id: str, controller_id: str, visible: frozenset[str] | None, after: str,
                          limit: int) -> list[Consent]:
        """The subject's at one controller, by purpose_id, after `after`; `visible` None means every purpose."""
        rows = await self._conn.fetch(
            f"SELECT {CONSENT_COLUMNS} FROM consents WHERE subject_id = $1 AND controller_id = $5 AND purpose_id > $2"
            " AND ($3::text[] IS NULL OR purpose_id = ANY($3)) ORDER BY purpose_id LIMIT $4",
            subject_id, after, _listed(visible), limit, controller_id)
        return [consent_from_row(r) for r in rows]

    async def add_history(self, entries: list[tuple[str, HistoryEntry]]) -> None:
        """entries: (record id, entry); one statement whatever their number."""
        await self._conn.execute(
            f"INSERT INTO consent_history ({_HISTORY_COLUMNS}) SELECT * FROM unnest($1::uuid[], $2::uuid[],"
            " $3::text[], $4::smallint[], $5::int[], $6::text[], $7::text[], $8::text[], $9::smallint[],"
            " $10::text[], $11::smallint[], $12::text[], $13::text[], $14::timestamptz[], $15::text[],"
            " $16::timestamptz[])", *zip(*(history_values(consent_id, e) for consent_id, e in entries), strict=True))

    async def history(self, consent_id: str) -> list[HistoryEntry]:
        rows = await self._conn.fetch(
            "SELECT * FROM consent_history WHERE consent_id = $1 ORDER BY id", consent_id)
        return [history_from_row(r) for r in rows]

    async def history_after(self, consent_id: str, after: int, limit: int) -> list[tuple[int, HistoryEntry]]:
        """Entries in the order they were written, after the row `after`, each with its row number."""
        rows = await self._conn.fetch(
            "SELECT * FROM consent_history WHERE consent_id = $1 AND id > $2 ORDER BY id LIMIT $3",
            consent_id, after, limit)
        return [(r["id"], history_from_row(r)) for r in rows]

    async def touch(self, controller_id: str, subject_id: str, purpose_id: str, at: datetime) -> datetime | None:
        return await self._conn.fetchval(
            "UPDATE consents SET last_interaction_at = greatest(last_interaction_at, $3)"
            " WHERE subject_id = $1 AND purpose_id = $2 AND controller_id = $4 RETURNING last_interaction_at",
            subject_id, purpose_id, at, controller_id)

    async def expire_due(self, now: datetime, limit: int) -> list[tuple[Consent, str]]:
        rows = await self._conn.fetch(
            f"""
            WITH due AS (
                SELECT consent_id, CASE WHEN expires_at <= $1 THEN 'retention' ELSE 'inactivity' END AS cause
                FROM consents WHERE state = {GIVEN} AND (expires_at <= $1 OR last_interaction_at <= $2)
                LIMIT $3 FOR UPDATE SKIP LOCKED
            )
            UPDATE consents c SET state = $4, updated_at = $1 FROM due WHERE c.consent_id = due.consent_id
            RETURNING due.cause, {", ".join("c." + col.strip() for col in CONSENT_COLUMNS.split(","))}
            """,
            now, now - INACTIVITY_LIMIT, limit, ConsentState.EXPIRED.value)
        return [(consent_from_row(r), r["cause"]) for r in rows]

    # Erasure

    async def erase_subject(self, subject_id: str, controller_id: str, subject_tag: str, request_id: str,
                            at: datetime) -> list[Consent]:
        """Erases the person as a subject of one controller (`subject_tag` is theirs there), leaving
        the keyed tombstone and nothing else at that controller that names them: their records keep
        the tombstone in place of the id and lose evidence, guardian and free-text reasons; where
        they were another subject's guardian there, the tombstone stands in their place (and in place
        of the reference to how they were verified, which points to them); every outbox row naming
        them at that controller is redacted, and their event key there destroyed (their events on the
        broker die with it). The same person at another controller is another subject: untouched."""
        tombstone = TOMBSTONE_PREFIX + subject_tag
        await self._conn.execute(f"SELECT pg_advisory_xact_lock({_SUBJECT_LOCK}, hashtext($1))", subject_tag)
        await self._conn.execute(
            "INSERT INTO erased_subjects (subject_tag, request_id, erased_at) VALUES ($1, $2, $3)"
            " ON CONFLICT DO NOTHING", subject_tag, request_id, at)
        rows = await self._conn.fetch(
            f"UPDATE consents SET state = $3, subject_id = $2, evidence_ref = '',"
            f" guardian_id = '', guardian_verification_ref = '', updated_at = $4"
            f" WHERE subject_id = $1 AND controller_id = $5 RETURNING {CONSENT_COLUMNS}",
            subject_id, tombstone, ConsentState.ERASED.value, at, controller_id)
        await self._conn.execute(
            "UPDATE consent_history SET guardian_id = '', guardian_verification_ref = '', evidence_ref = '',"
            " reason = '' WHERE consent_id = ANY($1::uuid[])",
            [r["consent_id"] for r in rows])
        # `<> ''` as in the guardian indexes' predicate: a plan made without the id's value can use them.
        await self._conn.execute("UPDATE consents SET guardian_id = $2, guardian_verification_ref = $2"
                                 " WHERE guardian_id = $1 AND guardian_id <> '' AND controller_id = $3",
                                 subject_id, tombstone, controller_id)
        await self._conn.execute("UPDATE consent_history h SET guardian_id = $2, guardian_verification_ref = $2"
                                 " FROM consents c WHERE h.guardian_id = $1 AND h.guardian_id <> ''"
                                 " AND c.consent_id = h.consent_id AND c.controller_id = $3",
                                 subject_id, tombstone, controller_id)
        await redact_persons(self._conn, [subject_id], controller_id)
        await destroy_event_keys(self._conn, [subject_tag])
        return [consent_from_row(r) for r in rows]

    # Reads for the gate and for accountability

    async def snapshots(self, checks: list[tuple[str, str, str]], tags: list[str]) -> list[ConsentSnapshot]:
        """Per (subject, purpose, controller): a purpose of another controller reads as no purpose at all,
        and `tags` (the subjects' erasure tags at that controller) say who was erased there."""
        rows = await self._conn.fetch(
            """
            SELECT q.ord, p.purpose_id IS NOT NULL AS purpose_exists, p.storage_location,
                   e.subject_tag IS NOT NULL AS erased,
                   c.consent_id, c.state, c.notice_version, c.expires_at, c.last_interaction_at,
                   (SELECT count(*) FROM consent_history h WHERE h.consent_id = c.consent_id
                    AND h.event_type IN ('consent.withdrawn', 'consent.expired')) AS lapses
            FROM unnest($1::text[], $2::text[], $3::text[], $4::text[])
                 WITH ORDINALITY AS q(subject_id, purpose_id, controller_id, tag, ord)
            LEFT JOIN purposes p ON p.purpose_id = q.purpose_id AND p.controller_id = q.controller_id
            LEFT JOIN erased_subjects e ON e.subject_tag = q.tag
            LEFT JOIN consents c ON c.subject_id = q.subject_id AND c.purpose_id = p.purpose_id
                 AND c.controller_id = p.controller_id
            ORDER BY q.ord
            """,
            [s for s, _, _ in checks], [p for _, p, _ in checks], [c for _, _, c in checks], tags)
        return [
            ConsentSnapshot(
                purpose_exists=r["purpose_exists"], subject_erased=r["erased"],
                consent_id=str(r["consent_id"]) if r["consent_id"] else None,
                state=ConsentState(r["state"]) if r["state"] else None,
                notice_version=r["notice_version"] or 0, expires_at=r["expires_at"],
                last_interaction_at=r["last_interaction_at"], lapses=r["lapses"] or 0,
                storage_location=StorageLocation(r["storage_location"]) if r["storage_location"] else None,
            )
            for r in rows
        ]

    # Filing (Measures Art. 15). Counted: distinct people with a consent to a SERVER purpose that is
    # GIVEN, or RENEWAL_REQUIRED (what was stored under it stays until renewal or withdrawal). Consent
    # cannot see what face systems store nor which keys keyvault holds; a server purpose's consent is
    # what permits storage, so it is the count consent can know, and an upper bound of the real one.
    # Every data category a purpose can name (template, raw image, liveness) is face data. PostgreSQL
    # keeps the count as consents and purposes change (migration 0011): a folded total per controller
    # and the +1/-1 changes since, which these reads add up.
    _PEOPLE = ("SELECT controller_id, people FROM stored_face_data_counts"
               " UNION ALL SELECT controller_id, change FROM stored_face_data_changes")

    async def subjects_with_stored_face_data(self, controller_id: str) -> int:
        return await self._conn.fetchval(
            f"SELECT coalesce(sum(people), 0)::bigint FROM ({self._PEOPLE}) AS counted WHERE controller_id = $1",
            controller_id)

    async def stored_face_data_by_controller(self) -> dict[str, int]:
        """Controllers storing anybody's face data."""
        rows = await self._conn.fetch(
            f"SELECT controller_id, sum(people)::bigint AS people FROM ({self._PEOPLE}) AS counted"
            " GROUP BY controller_id HAVING sum(people) > 0")
        return {r["controller_id"]: r["people"] for r in rows}

    async def filing_count_drift(self) -> list[tuple[str, int, int]]:
        """(controller, people as kept, people counted from the consents) wherever the two differ. In
        the caller's REPEATABLE READ transaction both are read from one snapshot: the triggers write
        in the transaction that changes the consents, so the snapshot sees either both or neither."""
        rows = await self._conn.fetch(
            f"WITH kept AS (SELECT controller_id, sum(people)::bigint AS people FROM ({self._PEOPLE}) AS k"
            "  GROUP BY controller_id),"
            " counted AS (SELECT c.controller_id, count(DISTINCT c.subject_id) AS people FROM consents c"
            "  JOIN purposes p USING (purpose_id, controller_id) WHERE stores_face_data(c.state, p.storage_location)"
            "  GROUP BY c.controller_id)"
            " SELECT controller_id, coalesce(kept.people, 0) AS kept, coalesce(counted.people, 0) AS counted"
            " FROM kept FULL JOIN counted USING (controller_id)"
            " WHERE coalesce(kept.people, 0) <> coalesce(counted.people, 0) ORDER BY controller_id")
        return [(r["controller_id"], r["kept"], r["counted"]) for r in rows]

    async def fold_stored_face_data(self) -> None:
        """Adds the changes counted so far to each controller's total, which the reads then add up
        fewer of. Changes committed after this statement began stay for the next fold."""
        await self._conn.execute(
            "WITH folded AS (DELETE FROM stored_face_data_changes RETURNING controller_id, change)"
            " INSERT INTO stored_face_data_counts AS t (controller_id, people)"
            " SELECT controller_id, sum(change) FROM folded GROUP BY controller_id"
            " ON CONFLICT (controller_id) DO UPDATE SET people = t.people + EXCLUDED.people")

    async def lock_filing_states(self) -> dict[str, FilingState]:
        """The states last announced; locked until commit, so concurrent sweeps announce nothing twice."""
        await self._conn.execute("LOCK TABLE filing_states IN EXCLUSIVE MODE")
        rows = await self._conn.fetch("SELECT controller_id, state FROM filing_states")
        return {r["controller_id"]: FilingState(r["state"]) for r in rows}

    async def save_filing_state(self, controller_id: str, state: FilingState, at: datetime) -> None:
        await self._conn.execute(
            "INSERT INTO filing_states (controller_id, state, changed_at) VALUES ($1, $2, $3)"
            " ON CONFLICT (controller_id) DO UPDATE SET state = EXCLUDED.state, changed_at = EXCLUDED.changed_at",
            controller_id, state.value, at)
