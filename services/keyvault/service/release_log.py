"""No key leaves without its audit record: each release event is committed to the outbox before the
caller gets the key. Releases arriving together share one unit of work (group commit)."""

from services.common.batching import MicroBatcher
from services.keyvault.domain import events as ev
from services.keyvault.service.ports import KeyUnits


class ReleaseLog:
    def __init__(self, uow: KeyUnits, max_batch: int = 1000) -> None:
        self._uow = uow
        self._commits = MicroBatcher(self._commit, max_batch)

    async def record(self, event: ev.KeyReleased) -> None:
        """Returns once the event is durable; raises (and nothing may be released) if it is not."""
        await self._commits.submit(event)

    async def _commit(self, events: list[ev.KeyReleased]) -> list[None]:
        async with self._uow() as uow:
            for event in events:
                uow.emit(event)
            await uow.commit()
        return [None] * len(events)
