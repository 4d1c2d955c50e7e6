"""Listens on `consent_changed` (sent by triggers at commit) and reports each changed key; reports
the loss of the channel at once so the cache can switch itself off."""

import asyncio
from collections.abc import Callable

import asyncpg

from services.common.logging import get_logger

log = get_logger(__name__)
CHANNEL = "consent_changed"
SEPARATOR = "\x1f"


class ChangeListener:
    def __init__(self, dsn: str, *, on_change: Callable[[tuple[str, str] | None], None],
                 on_ready: Callable[[], None], on_lost: Callable[[], None], retry_s: float = 1.0,
                 probe_interval_s: float = 2.0) -> None:
        self._dsn = dsn
        self._on_change = on_change  # None means "everything changed"
        self._on_ready = on_ready
        self._on_lost = on_lost
        self._retry = retry_s
        self._probe_interval = probe_interval_s

    async def run(self) -> None:
        while True:
            lost = asyncio.Event()
            conn = None
            try:
                conn = await asyncpg.connect(self._dsn)
                conn.add_termination_listener(lambda _conn, lost=lost: lost.set())
                await conn.add_listener(CHANNEL, self._received)
                self._on_ready()
                while not lost.is_set():
                    # A half-open connection reports nothing: probe it, so silence means "no changes".
                    try:
                        await asyncio.wait_for(lost.wait(), self._probe_interval)
                    except TimeoutError:
                        await asyncio.wait_for(conn.execute("SELECT 1"), self._probe_interval)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # database restarting: try again shortly
                log.warning("consent change listener unavailable", error=str(exc) or type(exc).__name__)
            finally:
                self._on_lost()
                if conn is not None and not conn.is_closed():
                    conn.terminate()
            await asyncio.sleep(self._retry)

    def _received(self, _conn, _pid, _channel, payload: str) -> None:
        if payload == "*":
            self._on_change(None)
        else:
            subject_id, _, purpose_id = payload.partition(SEPARATOR)
            self._on_change((subject_id, purpose_id))
