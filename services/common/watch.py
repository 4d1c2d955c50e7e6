"""A PostgreSQL channel fanned out to server streams, for caches kept by clients.

Every service replica listens on the channel its triggers announce changes on, and sends a beat on
the same channel every `heartbeat_s`. PostgreSQL delivers notifications in commit order, so when a
beat comes back every change committed before it has been handed to the subscribers: a subscriber
that keeps hearing beats knows it has missed nothing older than the last one. When the channel is
lost, subscribers hear `RESET` and no beats until it is back (then `RESET` again: what was announced
meanwhile is gone). A subscriber that falls behind, by `queue_limit` messages or by a beat that waited
longer than `lag_limit_s` to be taken, is ended, never silently skipped (a late beat would vouch for
changes still queued behind it): its client sees the stream end and starts over."""

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass

from services.common.logging import get_logger
from services.common.pg_listener import ChannelListener

log = get_logger(__name__)

# A beat's payload: this prefix and the sending replica's id. Change payloads never start with it.
BEAT_PREFIX = "\x1ebeat\x1f"


@dataclass(frozen=True)
class Beat:
    at: float  # time.monotonic() when it came through the channel


@dataclass(frozen=True)
class Reset:
    pass


RESET = Reset()
Message = str | Beat | Reset  # a change's payload, as the channel's trigger wrote it
_END = None  # the hub is closing: the subscription ends


class SubscriberTooSlow(Exception):
    """The subscriber did not keep up with the channel; its stream ends (UNAVAILABLE: reopen it)."""

    reason = "WATCH_FELL_BEHIND"

    def __init__(self) -> None:
        super().__init__("the stream fell behind the changes it carries; open it again")


class Subscription:
    def __init__(self, hub: "WatchHub", limit: int, lag_limit_s: float) -> None:
        self._hub, self._lag_limit = hub, lag_limit_s
        self._queue: asyncio.Queue[Message | None] = asyncio.Queue(limit)
        self.overflowed = False

    def _offer(self, message: Message | None) -> None:
        try:
            self._queue.put_nowait(message)
        except asyncio.QueueFull:  # the reader is not waiting (its queue is full): it sees this next
            self.overflowed = True

    def __enter__(self) -> "Subscription":
        return self

    def __exit__(self, *_exc) -> None:
        self._hub.unsubscribe(self)

    async def __aiter__(self) -> AsyncIterator[Message]:
        while True:
            message = await self._queue.get()
            if self.overflowed or (isinstance(message, Beat) and time.monotonic() - message.at > self._lag_limit):
                raise SubscriberTooSlow()
            if message is _END:
                return
            yield message


class WatchHub:
    def __init__(self, dsn: str, channel: str, send_beat: Callable[[str, str], Awaitable[None]], *,
                 heartbeat_s: float = 0.5, queue_limit: int = 10_000, lag_limit_s: float | None = None) -> None:
        """`send_beat(channel, payload)` notifies the channel (through the service's pool)."""
        self.channel = channel
        self.heartbeat_s = heartbeat_s
        self._send_beat = send_beat
        self._beat_payload = BEAT_PREFIX + uuid.uuid4().hex
        self._queue_limit = queue_limit
        self._lag_limit = lag_limit_s if lag_limit_s is not None else max(1.0, 4 * heartbeat_s)
        self._subscribers: set[Subscription] = set()
        self._closed = False
        self._listener = ChannelListener(dsn, channel, on_message=self._received, on_ready=self._reset,
                                         on_lost=self._reset)

    def subscribe(self) -> Subscription:
        """From now on: every change delivered after this call, in order. Leave it (`with`) when done."""
        subscription = Subscription(self, self._queue_limit, self._lag_limit)
        if self._closed:
            subscription._offer(_END)
        else:
            self._subscribers.add(subscription)
        return subscription

    def close(self) -> None:
        """Ends every subscription (the service is stopping: its clients move to another replica)."""
        self._closed = True
        self._broadcast(_END)

    def unsubscribe(self, subscription: Subscription) -> None:
        self._subscribers.discard(subscription)

    async def run(self) -> None:
        await asyncio.gather(self._listener.run(), self._beat())

    async def _beat(self) -> None:
        while True:
            await asyncio.sleep(self.heartbeat_s)
            try:
                await self._send_beat(self.channel, self._beat_payload)
            except Exception as exc:  # noqa: BLE001 - no beat goes out: subscribers see silence, as they should
                log.warning("watch beat not sent", channel=self.channel, error=str(exc) or type(exc).__name__)

    def _received(self, payload: str) -> None:
        # Any replica's beat proves this listener is live and in order.
        self._broadcast(Beat(time.monotonic()) if payload.startswith(BEAT_PREFIX) else payload)

    def _reset(self) -> None:
        self._broadcast(RESET)

    def _broadcast(self, message: Message | None) -> None:
        for subscription in list(self._subscribers):
            subscription._offer(message)
