"""The unit of work every use case runs in: one pooled connection, one transaction, the service's
store on it. Events the work emits become outbox rows in that same transaction when it commits, so
a change and the events describing it commit together or not at all. Nothing commits unless the use
case says so: leaving the block without `commit()` rolls back."""

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from types import TracebackType
from typing import Any, Generic, TypeVar

import asyncpg

from services.common.idempotency import (
    Idempotent, IdempotencyKey, IdempotencyKeyReused, Replayed, answers_statement, claim, claim_each, release_statement,
    remembered,
)
from services.common.ids import new_id
from services.common.outbox import PendingEvent, add_events
from services.common.telemetry import current_traceparent

S = TypeVar("S")  # the service's store
E = TypeVar("E")  # the service's domain events
T = TypeVar("T")

# What a use case may catch as "the database is away, try again later" without naming the driver.
STORE_FAILURES: tuple[type[Exception], ...] = (OSError, asyncpg.PostgresError)
# Two transactions locked the same rows in opposite orders; the one rolled back may simply run again.
DEADLOCK = asyncpg.exceptions.DeadlockDetectedError

EventEncoder = Callable[[str, Any], PendingEvent]  # (event id, domain event) -> outbox row
CommitHook = Callable[[list[Any]], None]  # the events just committed (never called without any)


class UnitOfWork(Generic[S, E]):
    def __init__(self, pool: asyncpg.Pool, store: Callable[[asyncpg.Connection], S], encode: EventEncoder | None,
                 on_commit: CommitHook | None, transaction: dict[str, Any]) -> None:
        self._pool, self._make_store, self._encode, self._on_commit = pool, store, encode, on_commit
        self._options = transaction
        self._events: list[tuple[str, E, str | None]] = []  # (event id, event, its call's trace if not the unit's)
        self._claimed: set[IdempotencyKey] = set()  # each answered or released before commit
        self._answers: list[tuple[IdempotencyKey, bytes]] = []  # stored at commit
        self._released: list[IdempotencyKey] = []
        self._tx: asyncpg.transaction.Transaction | None = None

    async def __aenter__(self) -> "UnitOfWork[S, E]":
        self._conn = await self._pool.acquire()
        try:
            self._tx = self._conn.transaction(**self._options)
            await self._tx.start()
        except BaseException:
            await self._pool.release(self._conn)
            raise
        self.store: S = self._make_store(self._conn)
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        try:
            if self._tx is not None:
                await self._tx.rollback()
        finally:
            await self._pool.release(self._conn)

    def emit(self, event: E, event_id: str | None = None, traceparent: str | None = None) -> str:
        """Queues the event for the outbox at commit; returns its id (given when a history row shares it).
        `traceparent`: the trace of the call it answers, when that is not the current one (a batch)."""
        event_id = event_id or str(new_id())
        self._events.append((event_id, event, traceparent))
        return event_id

    async def once(self, idem: Idempotent[T] | None, work: Callable[[], Awaitable[T]], *,
                   answer: bytes | None = None) -> T | Replayed:
        """Runs `work` in this transaction unless the idempotency key already has an answer: then the
        stored bytes come back as they are, for the caller's layer to answer with. `answer`: what to
        store, when it is known before the work; otherwise the result's answer is stored at commit."""
        if idem is None:
            return await work()
        if self._claimed:  # the first key's answer would be lost, and its retries refused
            raise RuntimeError("one idempotent use case per unit of work")
        replayed = await claim(self._conn, idem.key, answer)
        if replayed is not None:
            return replayed
        result = await work()
        if answer is None:
            self._claimed.add(idem.key)
            self.answer(idem, result)
        return result

    async def claim_each(self, idems: list[Idempotent[T] | None]) -> list[Replayed | IdempotencyKeyReused | None]:
        """For a batch of calls in this one unit (their keys distinct): each call's stored answer, the
        error of a key used for another request, or None: do its work, then `answer` or `release` it."""
        keys = [idem.key for idem in idems if idem is not None]
        if self._claimed.intersection(keys):
            raise RuntimeError("a key claimed twice in one unit of work")
        found = iter(await claim_each(self._conn, keys) if keys else [])
        outcomes = [None if idem is None else next(found) for idem in idems]
        self._claimed.update(idem.key for idem, outcome in zip(idems, outcomes, strict=True)
                             if idem is not None and outcome is None)
        return outcomes

    def answer(self, idem: Idempotent[T] | None, result: T) -> None:
        """The result of a claimed key's work, stored for its retries at commit."""
        if idem is not None:
            self._answers.append((idem.key, idem.encode(result)))

    def release(self, idem: Idempotent | None) -> None:
        """A claimed key whose work failed: unclaimed at commit, as a rollback would have left it."""
        if idem is not None:
            self._released.append(idem.key)

    async def commit(self) -> None:
        """Writes the events and the idempotency answers, in one statement when there are both."""
        answers, released = self._answers, self._released
        if self._claimed != {key for key, _ in answers} | set(released):
            raise RuntimeError("a claimed idempotency key was neither answered nor released")
        along = (lambda first: answers_statement(answers, first)) if answers else None
        if self._events and self._encode is None:
            raise TypeError("events emitted in a unit of work without an outbox")
        if released:
            gone = release_statement(released)
            await self._conn.execute(gone.sql, *gone.args)
        if self._events or along:
            current = current_traceparent()
            await add_events(self._conn, [self._encode(event_id, event) for event_id, event, _ in self._events],
                             [current if traceparent is None else traceparent for _, _, traceparent in self._events],
                             along)
        assert self._tx is not None
        await self._tx.commit()
        self._tx, self._claimed, self._answers, self._released = None, set(), [], []
        committed, self._events = [event for _, event, _ in self._events], []
        if committed and self._on_commit is not None:
            self._on_commit(committed)


class UnitsOfWork(Generic[S, E]):
    """A service's units of work, bound at start-up to its pool, its store, how its events become
    outbox rows and what runs after a commit that added events (wake the relay, drop a cache)."""

    def __init__(self, pool: asyncpg.Pool, store: Callable[[asyncpg.Connection], S],
                 encode: EventEncoder | None = None, on_commit: CommitHook | None = None) -> None:
        self._pool, self._store, self._encode, self._on_commit = pool, store, encode, on_commit

    def __call__(self, **transaction: Any) -> UnitOfWork[S, E]:
        """`transaction`: asyncpg's options (isolation, readonly) for this unit's transaction."""
        return UnitOfWork(self._pool, self._store, self._encode, self._on_commit, transaction)

    @asynccontextmanager
    async def autocommit(self) -> AsyncIterator[S]:
        """The store outside any transaction, each statement committing by itself: for reads and
        single-statement changes, which need no unit of work (and save its BEGIN and ROLLBACK)."""
        async with self._pool.acquire() as conn:
            yield self._store(conn)

    async def remembered(self, idem: Idempotent[T], work: Callable[[], Awaitable[T]]) -> T | Replayed:
        """Idempotency for work spanning several units of work and outside calls (see idempotency.remembered)."""
        return await remembered(self._pool, idem, work)
