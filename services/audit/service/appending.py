"""Append: face systems' own events (enrolments, match attempts) join the log through the inbox,
durable before the call returns; the sequencer integrates them with the next batch."""

import asyncpg

from services.audit.domain.entry import Event
from services.audit.service.sequencer import INBOX_CHANNEL
from services.audit.store.log_store import LogStore


async def append(pool: asyncpg.Pool, events: list[Event]) -> int:
    """Returns how many were new; an event id already in the inbox or the log is not added again."""
    async with pool.acquire() as conn, conn.transaction():
        accepted = await LogStore(conn).add_to_inbox(events)
        if accepted:
            await conn.execute("SELECT pg_notify($1, '')", INBOX_CHANNEL)
    return accepted
