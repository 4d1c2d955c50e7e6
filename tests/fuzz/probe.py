"""One fuzzed call, judged: never INTERNAL or UNKNOWN, never past its deadline, and when rejected,
no row changed in any service database."""

import asyncio
import contextlib
import sys
import traceback
from dataclasses import dataclass

import grpc
import structlog
from google.protobuf.descriptor import MethodDescriptor

from tests.fuzz.snapshot import Databases, changed, row_diff
from tests.fuzz.stack import FuzzStack

DEADLINE_S = 10.0
ALIVE_S = 0.2  # a stream still open this long after its first message is a watch, which never ends
FORBIDDEN = {grpc.StatusCode.INTERNAL, grpc.StatusCode.UNKNOWN, grpc.StatusCode.DEADLINE_EXCEEDED}


@dataclass(frozen=True)
class Problem:
    key: tuple  # what makes two problems one bug
    text: str


class ServerErrors:
    """A structlog processor that keeps the exception behind each "unhandled error" log line (the
    server answers a bare INTERNAL): the root cause a failure names."""

    def __init__(self) -> None:
        self.seen: list[BaseException] = []

    def __call__(self, _logger, _method, event: dict) -> dict:
        error = sys.exc_info()[1]
        if event.get("event") == "unhandled error" and error is not None:
            self.seen.append(error)
        return event

    @contextlib.contextmanager
    def installed(self):
        processors = structlog.get_config()["processors"]
        structlog.configure(processors=[self, *processors])
        try:
            yield self
        finally:
            structlog.configure(processors=processors)


def where(error: BaseException) -> str:
    """The innermost frame in the project's code, else the innermost one."""
    frames = traceback.extract_tb(error.__traceback__)
    ours = [f for f in frames if "/services/" in f.filename] or frames
    if not ours:
        return "?"
    frame = ours[-1]
    return f"{frame.filename.split('/services/')[-1]}:{frame.lineno} in {frame.name}"


async def _read_stream(stream) -> None:
    """To its end, or until it has answered for ALIVE_S (then it is cancelled, answered)."""
    if await stream.read() is grpc.aio.EOF:
        return
    try:
        async with asyncio.timeout(ALIVE_S):
            while await stream.read() is not grpc.aio.EOF:
                pass
    except TimeoutError:
        stream.cancel()


class Prober:
    def __init__(self, stack: FuzzStack, databases: Databases, errors: ServerErrors) -> None:
        self._stack, self.databases, self._errors = stack, databases, errors

    async def call(self, method: MethodDescriptor, server: str, payload: bytes) -> tuple[grpc.StatusCode, str]:
        """Sends the raw bytes (no serializer: they may hold what the protobuf API refuses) to the
        service named `server` ("consent", ...)."""
        service = method.containing_service
        channel = self._stack.channel(server)
        path = f"/{service.full_name}/{method.name}"
        try:
            if method.server_streaming:
                await _read_stream(channel.unary_stream(path)(payload, timeout=DEADLINE_S))
            else:
                await channel.unary_unary(path)(payload, timeout=DEADLINE_S)
        except grpc.aio.AioRpcError as error:
            return error.code(), error.details() or ""
        return grpc.StatusCode.OK, ""

    async def _judged_call(self, method, server, payload, problems: list[Problem]) -> grpc.StatusCode:
        self._errors.seen.clear()
        code, details = await self.call(method, server, payload)
        if code not in FORBIDDEN:
            return code
        errors = self._errors.seen
        text = f"{code.name} {details!r}"
        text += f" (no answer within {DEADLINE_S:.0f} s)" if code == grpc.StatusCode.DEADLINE_EXCEEDED else ""
        text += "".join(f"\n    raised {type(e).__name__}: {str(e)[:200]} at {where(e)}" for e in errors)
        # A bare INTERNAL is told apart by the exceptions behind it, anything else by its details.
        causes = sorted({(type(e).__name__, where(e)) for e in errors})
        problems.append(Problem((code.name, *causes) if errors else (code.name, details[:120]), text))
        return code

    async def probe(self, method: MethodDescriptor, server: str, payload: bytes
                    ) -> tuple[grpc.StatusCode, list[Problem]]:
        problems: list[Problem] = []
        db = self.databases
        before = await db.digests()
        code = await self._judged_call(method, server, payload, problems)
        if code == grpc.StatusCode.OK or await db.digests() == before:
            return code, problems
        # Rows changed, but background work (relays, the sequencer, the orchestrator) changes rows
        # too: once it is quiet, the same call again must change nothing.
        quiet = await db.quiesce()
        before = await db.digests()
        again = await self._judged_call(method, server, payload, problems)
        tables = changed(before, await db.digests())
        if again == grpc.StatusCode.OK or not tables:
            return code, problems
        # A third time: it must change those tables again (a timer of background work, such as a
        # retry, may have written during the repeat), and the rows show what it changed.
        await db.quiesce()
        rows = await db.rows(tables)
        await self._judged_call(method, server, payload, [])
        after = await db.rows(tables)
        if after == rows:
            return code, problems
        diff = row_diff(rows, after, tables)
        note = "" if quiet else " (the databases never went quiet before the repeat)"
        problems.append(Problem(("rows changed", *tables), f"rejected with {again.name}, yet changed "
                                f"{', '.join(tables)}{note}\n    " + "\n    ".join(diff)))
        return code, problems
