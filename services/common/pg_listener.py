"""LISTEN on a PostgreSQL channel with a connection of its own. Reports readiness once listening and
the loss of the channel at once, so a cache built on its messages can switch itself off."""

import asyncio
from collections.abc import Callable

import asyncpg

from services.common.logging import get_logger

log = get_logger(__name__)


class ChannelListener:
    def __init__(self, dsn: str, channel: str, *, on_message: Callable[[str], None], on_ready: Callable[[], None],
                 on_lost: Callable[[], None], retry_s: float = 1.0, probe_interval_s: float = 2.0) -> None:
        self._dsn = dsn
        self._channel = channel
        self._on_message = on_message
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
                await conn.add_listener(self._channel, lambda _c, _pid, _ch, payload: self._on_message(payload))
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
                log.warning("channel listener unavailable", channel=self._channel,
                            error=str(exc) or type(exc).__name__)
            finally:
                self._on_lost()
                if conn is not None and not conn.is_closed():
                    conn.terminate()
            await asyncio.sleep(self._retry)
