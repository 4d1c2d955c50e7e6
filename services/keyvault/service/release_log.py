"""No key leaves without its audit record: each release event is committed to the outbox before the
caller gets the key. Releases arriving together share one commit (group commit)."""

import asyncio
from collections.abc import Callable

import asyncpg

from services.common.outbox import PendingEvent, add_events


class ReleaseLog:
    def __init__(self, pool: asyncpg.Pool, on_commit: Callable[[], None], max_batch: int = 1000) -> None:
        self._pool = pool
        self._on_commit = on_commit
        self._max_batch = max_batch
        self._pending: list[tuple[PendingEvent, asyncio.Future[None]]] = []
        self._flushing = False

    async def record(self, event: PendingEvent) -> None:
        """Returns once the event is durable; raises (and nothing may be released) if it is not."""
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._pending.append((event, future))
        if not self._flushing:
            self._flushing = True
            asyncio.get_running_loop().create_task(self._flush())
        await future

    async def _flush(self) -> None:
        try:
            while self._pending:
                batch, self._pending = self._pending[: self._max_batch], self._pending[self._max_batch:]
                try:
                    async with self._pool.acquire() as conn, conn.transaction():
                        await add_events(conn, [event for event, _ in batch])
                except Exception as exc:  # noqa: BLE001 - every waiting caller learns it failed
                    for _, future in batch:
                        if not future.done():
                            future.set_exception(exc)
                    continue
                for _, future in batch:
                    if not future.done():
                        future.set_result(None)
                self._on_commit()
        finally:
            self._flushing = False
