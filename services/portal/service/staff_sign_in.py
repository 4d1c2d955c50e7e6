"""Staff sign in to the console with a password (argon2id) and a second factor (a TOTP code, RFC 6238)
from an authenticator app; each sign-in is recorded in the audit log under the account's name.

A wrong name, password or code, or a locked or disabled account, are one answer (StaffSignInFailed), and
an unknown name costs the same hashing as a known one. Five failures in a row lock the account for 15
minutes. A code works once: its time step must be later than the last one used. An operator disables an
account (its sessions end with it) and enables it again, which also lifts a lock."""

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from functools import cache

import pyotp
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from services.portal.domain import errors
from services.portal.domain.sign_in import new_secret, secret_hash
from services.portal.domain.staff import (
    FAILURES_TO_LOCK, LOCKED_FOR, Role, StaffAccount, StaffSession,
)
from services.portal.service.ports import StaffAccounts

ISSUER = "Consentry"
_hasher = PasswordHasher()  # argon2id, the library's (RFC 9106) defaults


@cache
def _nobodys_hash() -> str:
    """What an unknown name's password is checked against, so it costs the same work (made once, when
    first needed, not at every start)."""
    return _hasher.hash("a password of nobody's")


def utcnow() -> datetime:
    return datetime.now(UTC)


def _operator(by: str) -> StaffAccount:
    """The operator's client that asked for a change to an account, as the audit log names it."""
    return StaffAccount(by or "operator", Role.OPERATOR, None)


class StaffSignIn:
    def __init__(self, store: StaffAccounts, record: Callable[..., Awaitable[None]], idle: timedelta,
                 absolute: timedelta, clock: Callable[[], datetime] = utcnow) -> None:
        """`record(account, action, controller_id)`: the audit log's entry for what staff did."""
        self._store, self._record, self._idle, self._absolute, self._now = store, record, idle, absolute, clock

    async def add_account(self, name: str, role: Role, controller_id: str | None, password: str,
                          oidc_subject: str = "", by: str = "") -> str:
        """The account (its fields checked at the edge: domain.staff.new_account_problems), and its second
        factor's provisioning URI (otpauth://) for the authenticator app, shown this once.
        StaffAccountExists if the name, or the identity provider's subject, is taken (that account is left
        as it is). No password: the account signs in at the identity provider only (its hash is of a
        secret nobody holds). `by`: the operator's client that asked, as the audit log names it."""
        secret = pyotp.random_base32()
        password_hash = await asyncio.to_thread(_hasher.hash, password or new_secret())
        account = StaffAccount(name, role, controller_id)
        await self._record(_operator(by), "account_creation_asked",
                           controller_id or "", new_account=name, new_role=role.value)
        if not await self._store.add(account, password_hash, secret, oidc_subject or None):
            raise errors.StaffAccountExists(name)
        return pyotp.TOTP(secret).provisioning_uri(name=name, issuer_name=ISSUER)

    async def disable(self, name: str, by: str = "") -> tuple[bool, int]:
        """(disabled now, its sessions ended); StaffAccountNotFound for an unknown name. The operator's
        request is recorded first, as a creation's is: nothing changes unless the log has it."""
        await self._record(_operator(by), "account_disabling_asked", "",
                           target_account=name)
        outcome = await self._store.disable(name, self._now())
        if outcome is None:
            raise errors.StaffAccountNotFound(name)
        return outcome

    async def enable(self, name: str, by: str = "") -> bool:
        """Whether it was disabled or locked; StaffAccountNotFound for an unknown name."""
        await self._record(_operator(by), "account_enabling_asked", "",
                           target_account=name)
        enabled = await self._store.enable(name)
        if enabled is None:
            raise errors.StaffAccountNotFound(name)
        return enabled

    async def sign_in(self, name: str, password: str, code: str) -> tuple[str, StaffAccount]:
        """The new session's secret and the account; StaffSignInFailed otherwise."""
        now = self._now()
        found = await self._store.credentials(name)
        password_ok = await asyncio.to_thread(_password_matches, found.password_hash if found else _nobodys_hash(), password)
        if found is None:
            raise errors.StaffSignInFailed()
        step = _step(found.totp_secret, code, now)
        if found.disabled:
            raise errors.StaffSignInFailed()
        locked = found.locked_until is not None and found.locked_until > now
        if locked or not password_ok or step is None or step <= found.last_step:
            if not locked:
                await self._store.failed(name, now, FAILURES_TO_LOCK, LOCKED_FOR)
            raise errors.StaffSignInFailed()
        if not await self._store.succeeded(name, step, found.last_step):  # a sign-in took this code first
            raise errors.StaffSignInFailed()
        account = found.account
        await self._record(account, "signed_in", account.controller_id or "", method="password-totp")
        secret = new_secret()
        await self._store.open_session(secret_hash(secret), name, now, self._absolute)
        return secret, account

    async def signed_in_elsewhere(self, oidc_subject: str) -> tuple[str, StaffAccount]:
        """A session for the account bound to the subject the identity provider vouched for;
        StaffSignInFailed if no account is, or it is locked."""
        found = await self._store.bound_to(oidc_subject)
        if found is None or found.disabled or (found.locked_until is not None and found.locked_until > self._now()):
            raise errors.StaffSignInFailed()
        await self._record(found.account, "signed_in", found.account.controller_id or "", method="oidc")
        secret = new_secret()
        await self._store.open_session(secret_hash(secret), found.account.name, self._now(), self._absolute)
        return secret, found.account

    async def session(self, secret: str) -> StaffSession | None:
        return await self._store.session(secret_hash(secret), self._now(), self._idle)

    async def sign_out(self, secret: str) -> None:
        await self._store.end_session(secret_hash(secret))

    async def forget_ended(self) -> None:
        await self._store.forget_ended(self._now(), self._idle)


def _password_matches(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def _step(secret: str, code: str, now: datetime) -> int | None:
    """The time step whose code this is (the current one, or one either side for a clock a little off)."""
    if not (len(code) == 6 and code.isascii() and code.isdigit()):
        return None
    totp = pyotp.TOTP(secret)
    current = totp.timecode(now)
    for step in (current - 1, current, current + 1):
        if pyotp.utils.strings_equal(totp.generate_otp(step), code):
            return step
    return None
