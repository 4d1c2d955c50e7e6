"""No key leaves without its audit record: each release event is committed to the outbox before the
caller gets the key. Releases arriving together share one commit (group commit)."""

from collections.abc import Callable

import asyncpg

from services.common.batching import MicroBatcher
from services.common.outbox import PendingEvent, add_events


class ReleaseLog:
    def __init__(self, pool: asyncpg.Pool, on_commit: Callable[[], None], max_batch: int = 1000) -> None:
        self._pool = pool
        self._on_commit = on_commit
        self._commits = MicroBatcher(self._commit, max_batch)

    async def record(self, event: PendingEvent) -> None:
        """Returns once the event is durable; raises (and nothing may be released) if it is not."""
        await self._commits.submit(event)

    async def _commit(self, events: list[PendingEvent]) -> list[None]:
        async with self._pool.acquire() as conn, conn.transaction():
            await add_events(conn, events)
        self._on_commit()
        return [None] * len(events)
