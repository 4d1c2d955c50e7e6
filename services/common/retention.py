"""What a service keeps only for a while, and the loop that forgets it when the time is up.

Every producer keeps published outbox rows (for replays) and idempotency records (for retries);
neither may hold a person for ever. A service adds sweeps of its own (dsr: finished requests)."""

import asyncio
from collections.abc import Awaitable, Callable
from datetime import timedelta

import asyncpg
from pydantic import BaseModel, Field

from services.common.logging import get_logger
from services.common.outbox_retention import prune

log = get_logger(__name__)

DAY_S = 86400.0
# One sweep deletes this many rows per transaction, so it never holds locks long.
BATCH = 5000

Sweep = Callable[[asyncpg.Pool], Awaitable[int]]


class RetentionSettings(BaseModel):
    # A published event stays this long after the audit log has it, so a consumer that lost it can
    # still have it published again.
    outbox_s: float = Field(7 * DAY_S, gt=0)
    # A retry with the same idempotency key gets the first answer for this long; after it, the key is
    # free again and the stored response (a receipt may name the person) is gone.
    idempotency_s: float = Field(DAY_S, gt=0)
    interval_s: float = Field(300.0, gt=0)


async def forget_idempotency(pool: asyncpg.Pool, older_than: timedelta) -> int:
    forgotten = 0
    while True:
        deleted = await pool.fetchval(
            "WITH gone AS (DELETE FROM idempotency WHERE (client_id, method, idem_key) IN ("
            "  SELECT client_id, method, idem_key FROM idempotency WHERE created_at < now() - $1::interval"
            "  LIMIT $2) RETURNING 1) SELECT count(*) FROM gone", older_than, BATCH)
        forgotten += deleted
        if deleted < BATCH:
            return forgotten


async def prune_outbox(pool: asyncpg.Pool, older_than: timedelta) -> int:
    pruned = 0
    while True:
        async with pool.acquire() as conn:
            deleted = await prune(conn, older_than, BATCH)
        pruned += deleted
        if deleted < BATCH:
            return pruned


def producer_sweeps(settings: RetentionSettings) -> dict[str, Sweep]:
    outbox, idempotency = timedelta(seconds=settings.outbox_s), timedelta(seconds=settings.idempotency_s)
    return {"outbox": lambda pool: prune_outbox(pool, outbox),
            "idempotency": lambda pool: forget_idempotency(pool, idempotency)}


async def keep_bounded(pool: asyncpg.Pool, sweeps: dict[str, Sweep], interval_s: float) -> None:
    """Runs every sweep, then waits; a failing sweep is said and tried again next time."""
    while True:
        for name, sweep in sweeps.items():
            try:
                if forgotten := await sweep(pool):
                    log.info("retention passed", store=name, rows=forgotten)
            except (asyncpg.PostgresError, OSError) as exc:
                log.warning("retention sweep failed", store=name, error=str(exc))
        await asyncio.sleep(interval_s)
