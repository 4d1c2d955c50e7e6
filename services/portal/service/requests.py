"""A person's requests at the controller whose portal they are in: filed, followed, and their evidence
fetched. Filed here, a request carries how the portal verified the person, so dsr takes it as verified
(the portal's policy entry says it verifies identity). A case number of anyone else's is unknown here."""

from services.portal.domain import errors
from services.portal.domain.requests import Case, Kind
from services.portal.domain.sign_in import Session
from services.portal.service.consents import evidence, form_once
from services.portal.service.ports import Platform


class MyRequests:
    def __init__(self, platform: Platform) -> None:
        self._platform = platform

    async def cases(self, session: Session) -> list[Case]:
        return sorted(await self._platform.cases(session.person), key=lambda c: c.received_at, reverse=True)

    async def file(self, session: Session, session_secret: str, kind: Kind, purpose_id: str,
                   corrections: dict[str, str], details: str, form_key: str) -> Case:
        return await self._platform.submit(
            session.person, kind, purpose_id, corrections, details,
            (f"portal-{session.verified_by}", evidence(session_secret)), form_once("request", session.person, form_key))

    async def case(self, session: Session, request_id: str) -> Case:
        """The person's own request; NotFound for any other, as for one that does not exist."""
        found = next((c for c in await self._platform.cases(session.person) if c.request_id == request_id), None)
        if found is None:
            raise errors.NotFound()
        return found

    async def export(self, session: Session, request_id: str) -> bytes:
        case = await self.case(session, request_id)
        if not case.has_export:
            raise errors.NotFound()
        return await self._platform.export(case.request_id)
