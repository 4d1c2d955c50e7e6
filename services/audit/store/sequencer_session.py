"""The sequencer's own connection. While it is open it holds the lock that makes its holder the
log's single writer (a session lock, so a crashed holder's lock goes with its connection), and it
hears the inbox's notifications."""

import asyncio
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager

import asyncpg

from services.audit.store.log_store import INBOX_CHANNEL, LogStore

SEQUENCER_LOCK = 7_231_101


class SequencerSession:
    def __init__(self, conn: asyncpg.Connection) -> None:
        self._conn = conn
        self.store = LogStore(conn)

    @classmethod
    async def lead(cls, dsn: str) -> "SequencerSession":
        """Returns once this session holds the lock (another replica may hold it until it dies)."""
        conn = await asyncpg.connect(dsn)
        try:
            while not await conn.fetchval("SELECT pg_try_advisory_lock($1)", SEQUENCER_LOCK):  # noqa: ASYNC110
                await asyncio.sleep(1.0)  # another replica sequences
        except BaseException:
            conn.terminate()
            raise
        return cls(conn)

    async def on_inbox(self, wake: Callable[[], None]) -> None:
        await self._conn.add_listener(INBOX_CHANNEL, lambda *_: wake())

    def transaction(self) -> AbstractAsyncContextManager:
        return self._conn.transaction()

    def close(self) -> None:
        """Ends the session, and with it the lock, whatever state the connection is in."""
        self._conn.terminate()
