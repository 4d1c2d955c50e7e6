"""Signing in by a link the person's app asked for, and the session it opens."""

from collections.abc import Callable
from datetime import UTC, datetime

from services.common.auth import ControllerNotFound
from services.portal.domain import errors
from services.portal.domain.sign_in import LINK_LIFETIME, Person, Session, Ward, new_secret, secret_hash
from services.portal.service.ports import Platform, Sessions

APP_LINK = "app-link"  # how a person signed in by link was verified: by the app that signed them in


def utcnow() -> datetime:
    return datetime.now(UTC)


class SignIn:
    def __init__(self, sessions: Sessions, platform: Platform, clock: Callable[[], datetime] = utcnow) -> None:
        self._sessions, self._platform, self._now = sessions, platform, clock

    async def create_link(self, person: Person, language: str, wards: tuple[Ward, ...] = ()) -> tuple[str, datetime]:
        """The link's secret (given out once, kept as its hash) and when it expires. The controller must
        be registered (ControllerNotFound otherwise)."""
        try:
            await self._platform.controller(person.controller_id)
        except errors.NotFound:
            raise ControllerNotFound(person.controller_id) from None
        token, expires_at = new_secret(), self._now() + LINK_LIFETIME
        await self._sessions.add_link(secret_hash(token), person, language, wards, expires_at)
        return token, expires_at

    async def redeem(self, controller_id: str, token: str) -> tuple[str, Session]:
        """A new session's secret, for the link's person; LinkNotValid for a link used, expired, unknown,
        or of another controller's portal."""
        secret = new_secret()
        session = await self._sessions.redeem_link(secret_hash(token), controller_id, secret_hash(secret), APP_LINK,
                                                   self._now())
        if session is None:
            raise errors.LinkNotValid()
        return secret, session

    async def session(self, controller_id: str, secret: str, seen: bool = True) -> Session | None:
        """The live session; `seen`: the person acted (which keeps it from idling out)."""
        return await self._sessions.session(secret_hash(secret), controller_id, self._now(), seen)

    async def sign_out(self, secret: str) -> None:
        await self._sessions.end_session(secret_hash(secret))
