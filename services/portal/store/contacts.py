"""The addresses people may sign in with, by their keyed hashes, and the codes sent to them."""

import hmac
from datetime import datetime

import asyncpg

from services.portal.domain import errors
from services.portal.domain.codes import MOST_ATTEMPTS, MOST_LIVE_CODES
from services.portal.domain.sign_in import Person, Session, SessionLimits
from services.portal.store.sessions import open_session


class ContactStore:
    def __init__(self, pool: asyncpg.Pool, limits: SessionLimits) -> None:
        self._pool, self._limits = pool, limits

    async def register(self, person: Person, address_hash: str | None, now: datetime) -> None:
        """The person's address from now on (None: none), in place of theirs and of anyone's who had it."""
        async with self._pool.acquire() as conn, conn.transaction():
            await conn.execute("DELETE FROM contacts WHERE controller_id = $1 AND (subject_id = $2 OR address_hash = $3)",
                               person.controller_id, person.subject_id, address_hash)
            if address_hash is not None:
                await conn.execute(
                    "INSERT INTO contacts (controller_id, address_hash, subject_id, jurisdiction, registered_at)"
                    " VALUES ($1, $2, $3, $4, $5)",
                    person.controller_id, address_hash, person.subject_id, person.jurisdiction, now)

    async def add_code(self, challenge_hash: str, controller_id: str, address_hash: str, code_hash: str,
                       language: str, now: datetime, expires_at: datetime) -> bool:
        """Records a challenge; True if its code is to be mailed: the address is registered and has fewer
        than MOST_LIVE_CODES live codes. Otherwise the challenge names no one and no code matches it."""
        return await self._pool.fetchval(
            "WITH live AS (SELECT count(*) AS n FROM sign_in_codes WHERE controller_id = $2 AND address_hash = $3"
            "   AND subject_id IS NOT NULL AND used_at IS NULL AND expires_at > $6 AND attempts < $8),"
            " contact AS (SELECT subject_id, jurisdiction FROM contacts WHERE controller_id = $2 AND address_hash = $3"
            "   AND (SELECT n FROM live) < $9)"
            " INSERT INTO sign_in_codes (challenge_hash, controller_id, address_hash, subject_id, jurisdiction,"
            "   language, code_hash, expires_at)"
            " SELECT $1, $2, $3, contact.subject_id, coalesce(contact.jurisdiction, ''), $5, $4, $7"
            " FROM (SELECT 1) AS one LEFT JOIN contact ON true"
            " RETURNING subject_id IS NOT NULL",
            challenge_hash, controller_id, address_hash, code_hash, language, now, expires_at, MOST_ATTEMPTS,
            MOST_LIVE_CODES)

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
        async with self._pool.acquire() as conn, conn.transaction():
            contacts = await conn.execute("DELETE FROM contacts WHERE controller_id = $1 AND subject_id = $2",
                                          controller_id, subject_id)
            codes = await conn.execute("DELETE FROM sign_in_codes WHERE controller_id = $1 AND subject_id = $2",
                                       controller_id, subject_id)
        return int(contacts.split()[-1]) + int(codes.split()[-1])

    async def forget_ended(self, now: datetime) -> int:
        return int((await self._pool.execute("DELETE FROM sign_in_codes WHERE expires_at <= $1", now)).split()[-1])
