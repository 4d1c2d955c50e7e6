"""A watch stream (WatchConsents, WatchKeys) read on in the background while a test acts: a reader
that stops reading is cut off by the service (its heartbeats would vouch late). A stream promises
changes only once it has beaten (a replica just started may still be connecting its listener, and
then says `reset` rather than what it missed), so a test acts after the first heartbeat, as the
client library does."""

import asyncio
from collections.abc import Callable

import grpc


class Watching:
    def __init__(self, stream) -> None:
        self._stream = stream
        self.messages: list = []
        self.started = None  # the first message's `started`
        self._reading: asyncio.Task | None = None

    async def __aenter__(self) -> "Watching":
        self.started = (await self._stream.read()).started
        self._reading = asyncio.create_task(self._read())
        await self.until(lambda: bool(self.of_kind("heartbeat")))
        return self

    async def __aexit__(self, *_exc) -> None:
        assert self._reading is not None
        self._reading.cancel()
        await asyncio.gather(self._reading, return_exceptions=True)
        self._stream.cancel()

    async def _read(self) -> None:
        while (message := await self._stream.read()) is not grpc.aio.EOF:
            self.messages.append(message)

    def of_kind(self, kind: str, since: int = 0) -> list:
        """The messages of one kind ("changed", "heartbeat", ...) from the `since`-th on, as that kind."""
        return [getattr(m, kind) for m in self.messages[since:] if m.WhichOneof("event") == kind]

    async def until(self, seen: Callable[[], bool], timeout: float = 10.0) -> None:  # noqa: ASYNC109
        async with asyncio.timeout(timeout):
            while not seen():  # noqa: ASYNC110 - the reader fills the messages
                await asyncio.sleep(0.05)

    async def ended(self, timeout: float = 10.0) -> grpc.StatusCode:  # noqa: ASYNC109
        """The status the stream ended with, once the service ended it."""
        assert self._reading is not None
        await asyncio.wait_for(asyncio.shield(self._reading), timeout)
        return await self._stream.code()
