"""Reading requests for the DPO (lists with overdue first, timelines, task status), the export of
a finished access request, and the processor registry."""

import base64
import binascii
from datetime import UTC, datetime, timedelta

import asyncpg

from services.dsr.domain import errors
from services.dsr.domain.model import Processor, Request, RequestType, Status, Task
from services.dsr.store.repository import DsrStore

EXPORTABLE = (RequestType.ACCESS, RequestType.PORTABILITY)


def page_token(last: Request, now: datetime) -> str:
    return base64.urlsafe_b64encode(f"{int(not _overdue(last, now))}|{last.due_at.isoformat()}|{last.request_id}"
                                    .encode()).decode()


def read_page_token(token: str) -> tuple[int, datetime, str]:
    """(bucket, due, request id) of the last row of the previous page; ValueError if not such a token."""
    try:
        bucket, due, request_id = base64.urlsafe_b64decode(token.encode()).decode().split("|")
        return int(bucket), datetime.fromisoformat(due), request_id
    except (UnicodeDecodeError, binascii.Error) as exc:
        raise ValueError("not a page token") from exc


def _overdue(r: Request, now: datetime) -> bool:
    return not r.status.settled and r.due_at < now


class RequestQueries:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def tasks(self, requests: list[Request]) -> dict[str, list[Task]]:
        """Each request's tasks, in one query however many requests are asked about."""
        with_tasks = [r.request_id for r in requests if r.status.has_tasks]
        if not with_tasks:
            return {}
        async with self._pool.acquire() as conn:
            return await DsrStore(conn).tasks_of(with_tasks)

    async def find(self, status: Status | None, overdue_only: bool, due_within_days: int, subject_id: str,
                   limit: int, token: str) -> tuple[list[Request], str]:
        """Overdue open requests first, then everything else by due date."""
        now = datetime.now(UTC)
        async with self._pool.acquire() as conn:
            found = await DsrStore(conn).find(
                now=now, status=status, overdue_only=overdue_only,
                due_before=now + timedelta(days=due_within_days) if due_within_days else None,
                subject_id=subject_id, after=read_page_token(token) if token else None, limit=limit)
        more = len(found) == limit
        return found, page_token(found[-1], now) if more else ""

    async def export(self, request_id: str) -> bytes:
        async with self._pool.acquire() as conn:
            store = DsrStore(conn)
            r = await store.get(request_id)
            if r is None:
                raise errors.RequestNotFound(request_id)
            if r.type not in EXPORTABLE:
                raise errors.ExportUnavailable(request_id, f"a {r.type.name} request has none")
            if r.status not in (Status.COMPLETED, Status.PARTIALLY_COMPLETED):
                raise errors.ExportUnavailable(request_id, f"it is {r.status.name}")
            export = await store.export(request_id)
        assert export is not None  # written when the request completed
        return export

    async def register(self, p: Processor) -> Processor:
        async with self._pool.acquire() as conn:
            return await DsrStore(conn).register(p)

    async def processors(self) -> list[Processor]:
        async with self._pool.acquire() as conn:
            return await DsrStore(conn).processors()
