"""Forgetting a person the platform deleted: what could sign them in again goes at once (address,
codes, links); a session open at the deletion reads on for a few minutes (the person may be reading
the deletion's certificate), changes nothing, and then goes too."""

from collections.abc import Callable
from datetime import datetime

from services.portal.service.ports import Contacts, Sessions


class Forgetting:
    def __init__(self, sessions: Sessions, contacts: Contacts, clock: Callable[[], datetime]) -> None:
        self._sessions, self._contacts, self._now = sessions, contacts, clock

    async def forget(self, controller_id: str, subject_id: str) -> int:
        """Rows deleted or ended: the person's address and codes, links and sessions, and their
        guardians' that name them as a ward. Idempotent (a retry finds nothing)."""
        return (await self._contacts.forget(controller_id, subject_id)
                + await self._sessions.forget(controller_id, subject_id, self._now()))
