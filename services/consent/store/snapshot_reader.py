"""The gate's own connection for its batched reads: no pool acquire and release (with its reset
query) per batch, and a connection that broke is replaced by the next read."""

import asyncpg

from services.consent.domain.model import ConsentSnapshot
from services.consent.store.repository import ConsentStore


class SnapshotReader:
    def __init__(self, dsn: str) -> None:
        self._dsn = dsn
        self._conn: asyncpg.Connection | None = None

    async def snapshots(self, checks: list[tuple[str, str, str]], tags: list[str]) -> list[ConsentSnapshot]:
        if self._conn is None or self._conn.is_closed():
            self._conn = await asyncpg.connect(self._dsn)
        return await ConsentStore(self._conn).snapshots(checks, tags)

    def discard(self) -> None:
        """After a failed read: its connection may be half-way through anything."""
        if self._conn is not None:
            self._conn.terminate()
            self._conn = None

    async def close(self) -> None:
        if self._conn is not None:
            await self._conn.close()
            self._conn = None
