"""Staff accounts and their sessions in the portal's PostgreSQL database."""

from datetime import datetime, timedelta

import asyncpg

from services.portal.domain.staff import Credentials, Role, StaffAccount, StaffSession

def _account(row: asyncpg.Record) -> StaffAccount:
    return StaffAccount(row["name"], Role(row["role"]), row["controller_id"])


class StaffStore:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def add(self, account: StaffAccount, password_hash: str, totp_secret: str, oidc_subject: str | None) -> bool:
        """False if an account of that name, or bound to that subject, exists (it is left as it is)."""
        status = await self._pool.execute(
            "INSERT INTO staff_accounts (name, role, controller_id, password_hash, totp_secret, oidc_subject)"
            " VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING",
            account.name, account.role.value, account.controller_id, password_hash, totp_secret, oidc_subject)
        return status.endswith(" 1")

    async def bound_to(self, oidc_subject: str) -> Credentials | None:
        """The account bound to the identity provider's subject."""
        return self._credentials(await self._pool.fetchrow("SELECT * FROM staff_accounts WHERE oidc_subject = $1",
                                                           oidc_subject))

    async def credentials(self, name: str) -> Credentials | None:
        return self._credentials(await self._pool.fetchrow("SELECT * FROM staff_accounts WHERE name = $1", name))

    @staticmethod
    def _credentials(row: asyncpg.Record | None) -> Credentials | None:
        return Credentials(_account(row), row["password_hash"], row["totp_secret"], row["last_step"],
                           row["locked_until"], row["disabled_at"] is not None) if row else None

    async def failed(self, name: str, now: datetime, to_lock: int, locked_for: timedelta) -> None:
        """One more failure in a row; the `to_lock`th locks the account for `locked_for`."""
        await self._pool.execute(
            "UPDATE staff_accounts SET failures = failures + 1,"
            " locked_until = CASE WHEN failures + 1 >= $3 THEN $2::timestamptz + $4::interval ELSE locked_until END"
            " WHERE name = $1", name, now, to_lock, locked_for)

    async def succeeded(self, name: str, step: int, previous_step: int) -> bool:
        """Takes the code's time step, unless a sign-in took it (or a later one) meanwhile: a code works once."""
        status = await self._pool.execute(
            "UPDATE staff_accounts SET last_step = $2, failures = 0, locked_until = NULL"
            " WHERE name = $1 AND last_step = $3 AND last_step < $2", name, step, previous_step)
        return status.endswith(" 1")

    async def open_session(self, session_hash: str, name: str, now: datetime, lasting: timedelta) -> None:
        await self._pool.execute(
            "INSERT INTO staff_sessions (session_hash, account, last_seen_at, expires_at)"
            " VALUES ($1, $2, $3::timestamptz, $3 + $4::interval)", session_hash, name, now, lasting)

    async def session(self, session_hash: str, now: datetime, idle: timedelta) -> StaffSession | None:
        """The live session (seen within `idle`, before its end), marked seen now."""
        row = await self._pool.fetchrow(
            "UPDATE staff_sessions s SET last_seen_at = $2 FROM staff_accounts a"
            " WHERE s.session_hash = $1 AND a.name = s.account AND a.disabled_at IS NULL"
            " AND s.expires_at > $2 AND s.last_seen_at > $2 - $3::interval"
            " RETURNING a.name, a.role, a.controller_id, s.expires_at", session_hash, now, idle)
        return StaffSession(_account(row), row["expires_at"]) if row else None

    async def disable(self, name: str, now: datetime) -> tuple[bool, int] | None:
        """(disabled now, sessions ended), or None for an unknown name. The sessions go in the same
        transaction; one a sign-in opens afterwards is refused by `session` (the account is disabled)."""
        async with self._pool.acquire() as conn, conn.transaction():
            before = await conn.fetchval(
                "UPDATE staff_accounts a SET disabled_at = coalesce(a.disabled_at, $2) FROM staff_accounts b"
                " WHERE a.name = $1 AND b.name = a.name RETURNING b.disabled_at IS NULL", name, now)
            if before is None:
                return None
            ended = await conn.execute("DELETE FROM staff_sessions WHERE account = $1", name)
        return before, int(ended.split()[-1])

    async def enable(self, name: str) -> bool | None:
        """Whether it was disabled or locked (and may sign in now), or None for an unknown name."""
        return await self._pool.fetchval(
            "UPDATE staff_accounts a SET disabled_at = NULL, locked_until = NULL, failures = 0 FROM staff_accounts b"
            " WHERE a.name = $1 AND b.name = a.name"
            " RETURNING b.disabled_at IS NOT NULL OR coalesce(b.locked_until > now(), false)", name)

    async def end_session(self, session_hash: str) -> None:
        await self._pool.execute("DELETE FROM staff_sessions WHERE session_hash = $1", session_hash)

    async def forget_ended(self, now: datetime, idle: timedelta) -> None:
        await self._pool.execute("DELETE FROM staff_sessions WHERE expires_at <= $1 OR last_seen_at <= $1 - $2::interval",
                                 now, idle)
