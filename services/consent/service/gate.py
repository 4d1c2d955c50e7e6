"""The enrolment gate on the hot path. Concurrent CheckConsent calls are coalesced into one query
per round trip, so the database cost is shared by every call in flight and each answer still
reflects committed state (no cache that could ALLOW after a withdrawal)."""

import asyncio
from collections.abc import Callable
from datetime import datetime

import asyncpg

from services.common.logging import get_logger
from services.consent.domain.model import CheckResult, DenyReason, decide
from services.consent.service.consents import subject_hash, utcnow
from services.consent.store.repository import ConsentStore

log = get_logger(__name__)
UNAVAILABLE = CheckResult(False, DenyReason.UNAVAILABLE)


class ConsentGate:
    def __init__(self, pool: asyncpg.Pool, *, max_batch: int = 512, timeout_s: float = 2.0,
                 clock: Callable[[], datetime] = utcnow) -> None:
        self._pool = pool
        self._max_batch = max_batch
        self._timeout = timeout_s
        self._now = clock
        self._pending: list[tuple[tuple[str, str], asyncio.Future[CheckResult]]] = []
        self._flushing = False

    async def check(self, subject_id: str, purpose_id: str) -> CheckResult:
        future: asyncio.Future[CheckResult] = asyncio.get_running_loop().create_future()
        self._pending.append(((subject_id, purpose_id), future))
        if not self._flushing:
            self._flushing = True
            asyncio.get_running_loop().create_task(self._flush())
        return await future

    async def check_many(self, pairs: list[tuple[str, str]]) -> list[CheckResult]:
        return await self._query(pairs)

    async def _flush(self) -> None:
        """Drains the queue: one query per batch; calls arriving meanwhile form the next batch."""
        try:
            while self._pending:
                batch, self._pending = self._pending[: self._max_batch], self._pending[self._max_batch:]
                results = await self._query([pair for pair, _ in batch])
                for (_, future), result in zip(batch, results, strict=True):
                    if not future.done():
                        future.set_result(result)
        finally:
            self._flushing = False

    async def _query(self, pairs: list[tuple[str, str]]) -> list[CheckResult]:
        try:
            async with asyncio.timeout(self._timeout):
                async with self._pool.acquire() as conn:
                    snapshots = await ConsentStore(conn).snapshots(pairs, [subject_hash(s) for s, _ in pairs])
        except Exception as exc:  # noqa: BLE001 - any failure to read is answered the same way
            # Fail closed: an unanswerable check is a DENY, never an ALLOW.
            log.warning("consent check unavailable", error=str(exc) or type(exc).__name__, checks=len(pairs))
            return [UNAVAILABLE] * len(pairs)
        now = self._now()
        return [decide(s, now) for s in snapshots]
