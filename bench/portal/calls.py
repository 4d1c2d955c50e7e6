"""The portal's pages as the benchmark asks for them, and `run_round`, the entry point the load
generator runs for every portal round. Each of the `concurrency` callers is one signed-in person (their
own session cookie), asking for the same page again and again; a page counts only when it is the
person's page (200, and their own heading), never a redirect to sign in or a refusal."""

from __future__ import annotations

import asyncio
import itertools
from dataclasses import dataclass, field

from bench.common.cpu import Window
from bench.common.load import CALL_TIMEOUT_S, CallFailed, run_load, summarize


@dataclass(frozen=True)
class RoundSpec:
    scenario: str  # "consents" | "requests" | "static"
    base_url: str
    path: str  # the page, from the portal's root
    expect: str  # a text the page must hold
    sessions: tuple[str, ...]  # session cookie values, one per signed-in person
    concurrency: int = 200
    duration_s: float = 10.0
    warmup_s: float = 2.0
    rng_seed: int = 0
    subject_prefix: str = ""
    cpu_roots: dict[str, int] = field(default_factory=dict)


class Connection:
    """One keep-alive HTTP/1.1 connection, written by hand: httpx's pool spends more CPU per request at
    200 connections than the server does (130 requests/s against a bare Starlette app here), which
    would measure the client, not the portal."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._reader, self._writer = reader, writer

    @classmethod
    async def open(cls, host: str, port: int) -> Connection:
        return cls(*await asyncio.open_connection(host, port))

    async def get(self, path: str, headers: str) -> tuple[int, bytes]:
        self._writer.write(f"GET {path} HTTP/1.1\r\nhost: localhost\r\n{headers}\r\n".encode())
        head = await self._reader.readuntil(b"\r\n\r\n")
        status = int(head.split(b" ", 2)[1])
        length = next((int(line.split(b":", 1)[1]) for line in head.split(b"\r\n")
                       if line.lower().startswith(b"content-length:")), None)
        if length is None:
            raise CallFailed("no content-length")
        return status, await self._reader.readexactly(length)

    def close(self) -> None:
        self._writer.close()


async def _round(spec: RoundSpec) -> dict[str, object]:
    host, port = spec.base_url.removeprefix("http://").rsplit(":", 1)
    idle: asyncio.Queue[Connection] = asyncio.Queue()
    for _ in range(spec.concurrency):  # connected before the clock starts
        idle.put_nowait(await Connection.open(host, int(port)))
    cookies = itertools.cycle(spec.sessions)
    expect = spec.expect.encode()

    async def page() -> None:
        connection = await idle.get()
        try:
            status, body = await asyncio.wait_for(connection.get(
                spec.path, f"cookie: session={next(cookies)}\r\naccept-language: zh-CN\r\n"), CALL_TIMEOUT_S)
        except BaseException:
            connection.close()  # mid-answer: never reused
            idle.put_nowait(await Connection.open(host, int(port)))
            raise
        idle.put_nowait(connection)
        if status != 200 or expect not in body:
            raise CallFailed(f"HTTP {status}")

    with Window(spec.cpu_roots, spec.warmup_s, spec.duration_s) as window:
        result = await run_load(page, concurrency=spec.concurrency, duration_s=spec.duration_s,
                                warmup_s=spec.warmup_s)
    while not idle.empty():
        idle.get_nowait().close()
    return {**summarize(result, spec.concurrency), "cpu_cores": window.cores()}


def run_round(spec: RoundSpec) -> dict[str, object]:
    """Load-generator entry point (runs in its own process): one round, summarized."""
    return asyncio.run(_round(spec))
