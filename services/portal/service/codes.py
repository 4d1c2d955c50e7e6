"""Signing in by a code mailed to the address the person's app registered, and registering that address.
A code opens the same session a link does; the session records that the person proved they read the
address's mail."""

import asyncio
from collections.abc import Callable
from datetime import datetime

from services.common.auth import ControllerNotFound
from services.common.logging import get_logger
from services.portal.domain import errors
from services.portal.domain.codes import CODE_LIFETIME, address_hash, code_hash, new_code, normalized_address
from services.portal.domain.consents import Controller
from services.portal.domain.sign_in import Person, Session, new_secret, secret_hash
from services.portal.service.ports import Contacts, Mailer, Platform
from services.portal.service.sign_in import utcnow

EMAIL_CODE = "email-code"  # how a person signed in by code was verified: they read the registered address's mail
log = get_logger(__name__)

# (controller, language, code) -> the letter's subject and text, in that language.
Letter = Callable[[Controller, str, str], tuple[str, str]]


class CodeSignIn:
    def __init__(self, contacts: Contacts, platform: Platform, mailer: Mailer, key: bytes, letter: Letter,
                 clock: Callable[[], datetime] = utcnow) -> None:
        """`key`: the address hashes' (one for every replica)."""
        self._contacts, self._platform, self._mailer = contacts, platform, mailer
        self._key, self._letter, self._now = key, letter, clock
        self._mailing: set[asyncio.Task] = set()

    async def register(self, person: Person, email: str) -> None:
        """The address the person signs in with from now on ("" for none); AddressNotValid, or
        ControllerNotFound for a controller not registered."""
        hashed = address_hash(self._key, person.controller_id, normalized_address(email)) if email else None
        try:
            await self._platform.controller(person.controller_id)
        except errors.NotFound:
            raise ControllerNotFound(person.controller_id) from None
        await self._contacts.register(person, hashed, self._now())

    async def send(self, controller: Controller, typed: str, language: str) -> str:
        """The challenge the page keeps for the code to be typed in; AddressNotValid for no address. The
        code is mailed in the background, so the answer takes as long whether it is mailed or not."""
        address = normalized_address(typed)
        challenge, code, now = new_secret(), new_code(), self._now()
        mailed = await self._contacts.add_code(
            secret_hash(challenge), controller.controller_id, address_hash(self._key, controller.controller_id, address),
            code_hash(challenge, code), language, now, now + CODE_LIFETIME)
        if mailed:  # nothing more is done in the answer for a registered address than for another
            task = asyncio.create_task(self._mail(address, controller, language, code))
            self._mailing.add(task)
            task.add_done_callback(self._mailing.discard)
        return challenge

    async def redeem(self, controller_id: str, challenge: str, code: str) -> tuple[str, Session]:
        """A new session's secret for the address's person; CodeNotValid with the tries left."""
        secret = new_secret()
        session = await self._contacts.redeem_code(secret_hash(challenge), controller_id, code_hash(challenge, code),
                                                   secret_hash(secret), EMAIL_CODE, self._now())
        return secret, session

    async def _mail(self, address: str, controller: Controller, language: str, code: str) -> None:
        try:
            await self._mailer.send(address, *self._letter(controller, language, code))
        except Exception as exc:  # noqa: BLE001 - the person asks for a new code; the address is not logged
            log.warning("sign-in code not mailed", error=type(exc).__name__)
