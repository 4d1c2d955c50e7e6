"""A person's consents at the controller whose portal they are in, and those of the minors in their
care (`ward`: 0 for the person's own, n for their n-th ward's): seen, given, withdrawn. For a ward, the
person acts as guardian, with the verification the app gave. Every change names the session it came
from as its evidence, and a retried form changes nothing twice."""

from services.portal.domain import errors
from services.portal.domain.consents import Card, Receipt
from services.portal.domain.sign_in import Person, Session, secret_hash
from services.portal.service.ports import Platform


def evidence(session_secret: str) -> str:
    """What the consent history keeps of how the person acted: a web form of this portal session (by a
    part of its hash: enough to match the session's own records, never enough to sign in)."""
    return f"portal-session:{secret_hash(session_secret)[:16]}"


def form_once(kind: str, person: Person, form_key: str) -> str:
    """The idempotency key of a form sent for a person: the form's own key (made by the page, sent back
    by the browser) scoped to the person, so no two people's forms ever share one at the platform."""
    scoped = secret_hash(f"{person.controller_id}|{person.subject_id}|{form_key}")[:40]
    return f"portal-{kind}-{scoped}"


def _acting(session: Session, ward: int) -> tuple[Person, tuple[str, str] | None]:
    """Whose consents, and the guardian acting (their id and verification) when they are a ward's."""
    try:
        person, chosen = session.acting_for(ward)
    except IndexError:
        raise errors.NotFound() from None
    return person, (session.person.subject_id, chosen.verification_ref) if chosen else None


class MyConsents:
    def __init__(self, platform: Platform) -> None:
        self._platform = platform

    async def cards(self, session: Session, language: str, ward: int = 0) -> list[Card]:
        person, _ = _acting(session, ward)
        purposes = await self._platform.purposes(person.controller_id, language)
        held = await self._platform.consents(person)
        return [Card(p, held.get(p.purpose_id)) for p in purposes]

    async def card(self, session: Session, purpose_id: str, language: str, ward: int = 0) -> Card:
        person, _ = _acting(session, ward)
        purpose = await self._platform.purpose(person.controller_id, purpose_id, language)
        return Card(purpose, (await self._platform.consents(person)).get(purpose_id))

    async def receipt(self, session: Session, purpose_id: str, ward: int = 0) -> Receipt:
        """The signed receipt of the consent in force (the person's own, or their ward's)."""
        person, _ = _acting(session, ward)
        return await self._platform.receipt(person, purpose_id)

    async def receipt_key(self) -> str:
        return await self._platform.receipt_key()

    async def readable(self, receipt: Receipt, language: str) -> str:
        return await self._platform.readable(receipt, language)

    async def grant(self, session: Session, session_secret: str, purpose_id: str, shown_hash: str, language: str,
                    age: int, form_key: str, ward: int = 0) -> None:
        """Gives consent to the notice the person was shown (`shown_hash`, the hash of its text), which
        must still be the current one; the platform checks the hash again."""
        person, guardian = _acting(session, ward)
        notice = (await self._platform.purpose(person.controller_id, purpose_id, language)).notice
        if notice is None or notice.content_hash != shown_hash:
            raise errors.Refused("NOTICE_OUTDATED", "the notice changed since it was shown")
        await self._platform.grant(person, purpose_id, notice, age, evidence(session_secret),
                                   form_once("grant", person, form_key), guardian)

    async def withdraw(self, session: Session, session_secret: str, purpose_id: str, form_key: str,
                       ward: int = 0) -> None:
        person, guardian = _acting(session, ward)
        await self._platform.withdraw(person, purpose_id, evidence(session_secret),
                                      form_once("withdraw", person, form_key), guardian)
