"""Links and sessions in the portal's PostgreSQL database, by the SHA-256 of their secrets."""

import json
from dataclasses import asdict
from datetime import datetime, timedelta

import asyncpg

from services.portal.domain.sign_in import Person, Session, SessionLimits, Ward


# A person's rows, and the guardians' rows that name them as a ward.
NAMING = "controller_id = $1 AND (subject_id = $2 OR wards @> jsonb_build_array(jsonb_build_object('subject_id', $2::text)))"


def session_of(row: asyncpg.Record) -> Session:
    return Session(Person(row["controller_id"], row["subject_id"], row["jurisdiction"]), row["language"],
                   row["verified_by"], row["expires_at"], tuple(Ward(**w) for w in json.loads(row["wards"])),
                   row["forgotten_at"] is not None)


async def open_session(conn: asyncpg.Connection | asyncpg.Pool, session_hash: str, person: Person, language: str,
                       verified_by: str, now: datetime, lasting: timedelta) -> Session:
    """A session for a person signed in by other means than a link (which opens its own, in one statement)."""
    return session_of(await conn.fetchrow(
        "INSERT INTO sessions (session_hash, controller_id, subject_id, jurisdiction, language, verified_by,"
        " created_at, last_seen_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7::timestamptz, $7, $7 + $8::interval)"
        " RETURNING *",
        session_hash, person.controller_id, person.subject_id, person.jurisdiction, language, verified_by, now,
        lasting))


class SessionStore:
    def __init__(self, pool: asyncpg.Pool, limits: SessionLimits) -> None:
        self._pool, self._limits = pool, limits

    async def add_link(self, token_hash: str, person: Person, language: str, wards: tuple[Ward, ...],
                       expires_at: datetime) -> None:
        await self._pool.execute(
            "INSERT INTO sign_in_links (token_hash, controller_id, subject_id, jurisdiction, language, expires_at,"
            " wards) VALUES ($1, $2, $3, $4, $5, $6, $7::jsonb)",
            token_hash, person.controller_id, person.subject_id, person.jurisdiction, language, expires_at,
            json.dumps([asdict(w) for w in wards]))

    async def redeem_link(self, token_hash: str, controller_id: str, session_hash: str, verified_by: str,
                          now: datetime) -> Session | None:
        """Uses the link (once, before its expiry, at its own controller's portal) and opens a session in
        the same statement; None if the link is not valid there."""
        row = await self._pool.fetchrow(
            "WITH used AS (UPDATE sign_in_links SET used_at = $4 WHERE token_hash = $1 AND controller_id = $2"
            " AND used_at IS NULL AND expires_at > $4"
            " RETURNING controller_id, subject_id, jurisdiction, language, wards)"
            " INSERT INTO sessions (session_hash, controller_id, subject_id, jurisdiction, language, verified_by,"
            " created_at, last_seen_at, expires_at, wards)"
            " SELECT $3, controller_id, subject_id, jurisdiction, language, $5, $4, $4, $4 + $6::interval, wards"
            " FROM used"
            " RETURNING *",
            token_hash, controller_id, session_hash, now, verified_by, self._limits.absolute)
        return session_of(row) if row else None

    async def session(self, session_hash: str, controller_id: str, now: datetime, seen: bool) -> Session | None:
        """The live session, `seen` now or not (seen keeps it from idling out); None if it ended, or is
        another controller's portal's."""
        row = await self._pool.fetchrow(
            "UPDATE sessions SET last_seen_at = CASE WHEN $5 THEN $3 ELSE last_seen_at END"
            " WHERE session_hash = $1 AND controller_id = $2"
            " AND expires_at > $3 AND last_seen_at > $3 - $4::interval RETURNING *",
            session_hash, controller_id, now, self._limits.idle, seen)
        return session_of(row) if row else None

    async def end_session(self, session_hash: str) -> None:
        await self._pool.execute("DELETE FROM sessions WHERE session_hash = $1", session_hash)

    async def forget(self, controller_id: str, subject_id: str, now: datetime) -> int:
        """Deletes the person's links, and those of guardians naming them as a ward; their open sessions
        change nothing from now and end within `after_deletion` (the sweep then deletes them). The
        links deleted and sessions ended; 0 once done."""
        async with self._pool.acquire() as conn, conn.transaction():
            links = await conn.execute(f"DELETE FROM sign_in_links WHERE {NAMING}", controller_id, subject_id)
            sessions = await conn.execute(
                "UPDATE sessions SET forgotten_at = $3::timestamptz,"
                f" expires_at = LEAST(expires_at, $3::timestamptz + $4::interval) WHERE {NAMING}"
                " AND forgotten_at IS NULL", controller_id, subject_id, now, self._limits.after_deletion)
        return int(links.split()[-1]) + int(sessions.split()[-1])

    async def forget_ended(self, now: datetime) -> int:
        """Links past their expiry (used or not) and sessions ended by time: the person's id goes with them."""
        links = await self._pool.execute("DELETE FROM sign_in_links WHERE expires_at <= $1", now)
        sessions = await self._pool.execute(
            "DELETE FROM sessions WHERE expires_at <= $1 OR last_seen_at <= $1 - $2::interval", now, self._limits.idle)
        return int(links.split()[-1]) + int(sessions.split()[-1])
