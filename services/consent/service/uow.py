"""Unit of work: one connection, one transaction; domain events become outbox rows on commit."""

from collections.abc import Callable
from types import TracebackType

import asyncpg

from services.common.idempotency import IdempotencyScope, fingerprint, run_once
from services.common.outbox import PendingEvent, add_events
from services.consent.domain.events import Event
from services.consent.store.repository import ConsentStore

EventEncoder = Callable[[str, Event], PendingEvent]  # (event_id, event) -> outbox row


class UnitOfWork:
    def __init__(self, pool: asyncpg.Pool, encode: EventEncoder,
                 on_commit: Callable[[list[Event]], None]) -> None:
        self._pool = pool
        self._encode = encode
        self._on_commit = on_commit
        self._events: list[tuple[str, Event]] = []

    async def __aenter__(self) -> "UnitOfWork":
        self._conn = await self._pool.acquire()
        self._tx = self._conn.transaction()
        await self._tx.start()
        self.store = ConsentStore(self._conn)
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        try:
            if self._tx is not None:
                await self._tx.rollback()
        finally:
            await self._pool.release(self._conn)

    def emit(self, event_id: str, event: Event) -> None:
        self._events.append((event_id, event))

    async def once(self, scope: IdempotencyScope | None, request: bytes, work, encode, decode):
        """Runs `work` unless this idempotency key already has an answer, which it returns instead."""
        if scope is None:
            return await work()
        return await run_once(self._conn, scope, fingerprint(request), work, encode, decode)

    async def commit(self) -> None:
        await add_events(self._conn, [self._encode(event_id, e) for event_id, e in self._events])
        await self._tx.commit()
        self._tx = None
        if self._events:
            self._on_commit([event for _, event in self._events])
        self._events.clear()
