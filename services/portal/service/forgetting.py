"""Forgetting a person the platform deleted: what the portal holds that names them goes at once."""

from services.portal.service.ports import Contacts, Sessions


class Forgetting:
    def __init__(self, sessions: Sessions, contacts: Contacts) -> None:
        self._sessions, self._contacts = sessions, contacts

    async def forget(self, controller_id: str, subject_id: str) -> int:
        """Rows deleted: the person's address and codes, links and sessions, and their guardians' that
        name them as a ward. Idempotent (a retry finds nothing)."""
        return (await self._contacts.forget(controller_id, subject_id)
                + await self._sessions.forget(controller_id, subject_id))
