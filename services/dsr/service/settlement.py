"""Settling tasks and, once every processor answered, the request: COMPLETED when all confirmed,
PARTIALLY_COMPLETED with each processor's reason otherwise. Results are applied once per task, so a
result delivered twice changes nothing the second time."""

import json

import asyncpg

from services.common.outbox import add_events
from services.dsr.domain.model import Request, RequestType, Status, Task, TaskState
from services.dsr.events.payloads import status_changed, task_settled
from services.dsr.store.repository import DsrStore


async def settle_task(conn: asyncpg.Connection, task_id: str, ok: bool, reason: str, data_json: bytes,
                      summary: str) -> bool:
    """Inside a transaction; False when the task is unknown or was settled before."""
    store = DsrStore(conn)
    task = await store.settle(task_id, ok, summary if ok else reason, data_json)
    if task is None:
        return False
    request = await store.get(task.request_id, for_update=True)
    assert request is not None
    await add_events(conn, [task_settled(request, task)])
    await complete_if_settled(conn, request)
    return True


async def complete_if_settled(conn: asyncpg.Connection, r: Request) -> None:
    store = DsrStore(conn)
    if r.status is not Status.IN_PROGRESS:
        return
    tasks = await store.tasks(r.request_id)
    if any(t.state in (TaskState.PENDING, TaskState.SENT) for t in tasks):
        return
    failed = [t for t in tasks if t.state is TaskState.FAILED]
    if r.type in (RequestType.ACCESS, RequestType.PORTABILITY):
        await store.set_export(r.request_id, _export(r, await store.export(r.request_id), tasks))
    if failed:
        r.move_to(Status.PARTIALLY_COMPLETED, "; ".join(f"{t.processor}: {t.reason}" for t in failed))
    else:
        r.move_to(Status.COMPLETED, f"confirmed by {len(tasks)} processor(s)")
    await store.save(r)
    await add_events(conn, [status_changed(r)])


def _export(r: Request, record: bytes | None, tasks: list[Task]) -> bytes:
    document = {
        "requestId": r.request_id, "subjectId": r.subject_id, "type": r.type.name,
        "receivedAt": r.received_at.isoformat(), "consentry": json.loads(record) if record else {},
        "processors": {t.processor: (json.loads(t.data_json) if t.state is TaskState.CONFIRMED and t.data_json
                                     else {"unavailable": t.reason}) for t in tasks},
    }
    return json.dumps(document, ensure_ascii=False, indent=2).encode()
