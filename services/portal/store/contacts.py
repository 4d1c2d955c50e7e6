"""The addresses people may sign in with, by their keyed hashes, and the codes sent to them."""

import hmac
from datetime import datetime

import asyncpg

from services.portal.domain import errors
from services.portal.domain.codes import (
    CODE_LIFETIME, CODES_COUNTED, MOST_ATTEMPTS, MOST_CODES_A_DAY, MOST_CODES_AT_ONCE,
)
from services.portal.domain.sign_in import Person, Session, SessionLimits
from services.portal.store.sessions import open_session


class ContactStore:
    def __init__(self, pool: asyncpg.Pool, limits: SessionLimits) -> None:
        self._pool, self._limits = pool, limits

    async def register(self, person: Person, address_hash: str | None, now: datetime) -> None:
        """The person's address from now on (None: none), in place of theirs and of anyone's who had it.
        Codes already sent for either no longer sign anyone in."""
        async with self._pool.acquire() as conn, conn.transaction():
            await _one_at_a_time(conn, person.controller_id, f"subject:{person.subject_id}",
                                 f"address:{address_hash}" if address_hash else None)
            registered = await conn.fetchval("SELECT address_hash FROM contacts WHERE controller_id = $1"
                                             " AND subject_id = $2", person.controller_id, person.subject_id)
            if address_hash is not None and registered == address_hash:
                return  # the same address again (an app may register it at every sign-in): its codes stay good
            await conn.execute(
                "UPDATE sign_in_codes SET attempts = $4 WHERE controller_id = $1 AND used_at IS NULL"
                " AND (subject_id = $2 OR address_hash = $3)",
                person.controller_id, person.subject_id, address_hash, MOST_ATTEMPTS)
            await conn.execute("DELETE FROM contacts WHERE controller_id = $1 AND (subject_id = $2 OR address_hash = $3)",
                               person.controller_id, person.subject_id, address_hash)
            if address_hash is not None:
                await conn.execute(
                    "INSERT INTO contacts (controller_id, address_hash, subject_id, jurisdiction, registered_at)"
                    " VALUES ($1, $2, $3, $4, $5)",
                    person.controller_id, address_hash, person.subject_id, person.jurisdiction, now)

    async def add_code(self, challenge_hash: str, controller_id: str, address_hash: str, code_hash: str,
                       language: str, now: datetime, expires_at: datetime) -> bool:
        """Records a challenge; True if its code is to be mailed: the address is registered, and fewer
        than MOST_CODES_AT_ONCE codes were sent to it within a code's lifetime and MOST_CODES_A_DAY within
        a day (used, locked or not). Otherwise the challenge names no one and no code matches it."""
        async with self._pool.acquire() as conn, conn.transaction():
            await _one_at_a_time(conn, controller_id, f"address:{address_hash}")
            return await conn.fetchval(
                "WITH sent AS (SELECT count(*) FILTER (WHERE expires_at > $6) AS at_once, count(*) AS a_day"
                "   FROM sign_in_codes WHERE controller_id = $2 AND address_hash = $3 AND subject_id IS NOT NULL"
                "   AND expires_at > $6 - $8::interval + $9::interval),"
                " contact AS (SELECT subject_id, jurisdiction FROM contacts, sent WHERE controller_id = $2"
                "   AND address_hash = $3 AND sent.at_once < $10 AND sent.a_day < $11)"
                " INSERT INTO sign_in_codes (challenge_hash, controller_id, address_hash, subject_id, jurisdiction,"
                "   language, code_hash, expires_at)"
                " SELECT $1, $2, $3, contact.subject_id, coalesce(contact.jurisdiction, ''), $5, $4, $7"
                " FROM (SELECT 1) AS one LEFT JOIN contact ON true"
                " RETURNING subject_id IS NOT NULL",
                challenge_hash, controller_id, address_hash, code_hash, language, now, expires_at, CODES_COUNTED,
                CODE_LIFETIME, MOST_CODES_AT_ONCE, MOST_CODES_A_DAY)

    async def redeem_code(self, challenge_hash: str, controller_id: str, code_hash: str, session_hash: str,
                          verified_by: str, now: datetime) -> Session:
        """Opens a session if the code matches its live challenge at this controller's portal; counts a
        wrong try otherwise. CodeNotValid with the tries left (0 for a challenge no longer live)."""
        async with self._pool.acquire() as conn, conn.transaction():
            row = await conn.fetchrow(
                "SELECT * FROM sign_in_codes WHERE challenge_hash = $1 AND controller_id = $2 AND used_at IS NULL"
                " AND expires_at > $3 AND attempts < $4 FOR UPDATE", challenge_hash, controller_id, now, MOST_ATTEMPTS)
            if row is None:
                raise errors.CodeNotValid()
            if row["subject_id"] is not None and hmac.compare_digest(row["code_hash"], code_hash):
                await conn.execute("UPDATE sign_in_codes SET used_at = $2 WHERE challenge_hash = $1",
                                   challenge_hash, now)
                person = Person(controller_id, row["subject_id"], row["jurisdiction"])
                return await open_session(conn, session_hash, person, row["language"], verified_by, now,
                                          self._limits.absolute)
            await conn.execute("UPDATE sign_in_codes SET attempts = attempts + 1 WHERE challenge_hash = $1",
                               challenge_hash)
        raise errors.CodeNotValid(MOST_ATTEMPTS - row["attempts"] - 1)

    async def forget(self, controller_id: str, subject_id: str) -> int:
        """The person's address and every code sent to it or to them."""
        async with self._pool.acquire() as conn, conn.transaction():
            codes = await conn.execute(
                "DELETE FROM sign_in_codes WHERE controller_id = $1 AND (subject_id = $2 OR address_hash IN"
                " (SELECT address_hash FROM contacts WHERE controller_id = $1 AND subject_id = $2))",
                controller_id, subject_id)
            contacts = await conn.execute("DELETE FROM contacts WHERE controller_id = $1 AND subject_id = $2",
                                          controller_id, subject_id)
        return int(contacts.split()[-1]) + int(codes.split()[-1])

    async def forget_ended(self, now: datetime) -> int:
        """A challenge that names no one at its expiry; a code sent a day after it (the daily count)."""
        return int((await self._pool.execute(
            "DELETE FROM sign_in_codes WHERE expires_at <= $1 AND (subject_id IS NULL OR expires_at <= $1 - $2::interval)",
            now, CODES_COUNTED)).split()[-1])


async def _one_at_a_time(conn: asyncpg.Connection, controller_id: str, *keys: str | None) -> None:
    """Serialises, until the transaction ends, the changes about a person or an address (in one order,
    so two callers never wait for each other)."""
    for key in sorted(k for k in keys if k is not None):
        await conn.execute("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))", f"contacts|{controller_id}|{key}")
