"""A real SMTP server (aiosmtpd) that receives the platform's mail on the dev stack and in the tests:
every message is kept in memory and, given a folder, written there as an .eml file."""

import asyncio
import email
import threading
from email.message import EmailMessage
from email.policy import default
from pathlib import Path

from aiosmtpd.controller import Controller

from consentry_dev.launchers.process import free_port


class Inbox:
    def __init__(self, folder: Path | None = None) -> None:
        self.port = free_port()
        self._folder = folder
        self._messages: list[EmailMessage] = []
        self._lock = threading.Lock()
        self._controller = Controller(self, hostname="127.0.0.1", port=self.port)

    def start(self) -> "Inbox":
        if self._folder:
            self._folder.mkdir(parents=True, exist_ok=True)
        self._controller.start()
        return self

    def stop(self) -> None:
        self._controller.stop()

    def __enter__(self) -> "Inbox":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    async def handle_DATA(self, server, session, envelope) -> str:  # noqa: N802 - aiosmtpd's hook name
        message = email.message_from_bytes(envelope.content, policy=default)
        with self._lock:
            self._messages.append(message)
            if self._folder:
                (self._folder / f"{len(self._messages):04d}.eml").write_bytes(envelope.content)
        return "250 Message accepted for delivery"

    def to(self, address: str) -> list[EmailMessage]:
        with self._lock:
            return [m for m in self._messages if m["To"] == address]

    async def next_to(self, address: str, after: int = 0, timeout: float = 10.0) -> EmailMessage:  # noqa: ASYNC109
        """The first message to `address` beyond the `after` already seen (waiting for it)."""
        async with asyncio.timeout(timeout):
            # Polled: the server receives on its own thread and loop, which an asyncio.Event would not cross.
            while len(found := self.to(address)) <= after:  # noqa: ASYNC110
                await asyncio.sleep(0.05)
        return found[after]
