"""Settling tasks and, once every processor answered, the request: COMPLETED when all confirmed,
PARTIALLY_COMPLETED with each processor's reason otherwise. Results are applied once per task, so a
result delivered twice changes nothing the second time. A batch of results is settled with a few
statements whatever its size: one update of the tasks, one lock of their requests, one read of those
requests' tasks, one insert of the events, and a save per request that is now complete."""

import json

import asyncpg

from services.common.outbox import add_events
from services.dsr.domain.model import Request, RequestType, Status, Task, TaskOutcome, TaskState
from services.dsr.events.payloads import status_changed, task_settled
from services.dsr.store.repository import DsrStore


async def settle_tasks(conn: asyncpg.Connection, outcomes: list[TaskOutcome]) -> int:
    """Inside a transaction; returns how many tasks were settled now (unknown or settled ones are skipped)."""
    if not outcomes:
        return 0
    store = DsrStore(conn)
    first = list({o.task_id: o for o in reversed(outcomes)}.values())  # a task answered twice: its first answer
    settled = await store.settle(first)
    if not settled:
        return 0
    requests = await store.lock_requests(sorted({t.request_id for t in settled}))
    events = [task_settled(requests[t.request_id], t) for t in settled]
    tasks = await store.tasks_of(list(requests))
    for r in requests.values():
        events += await _complete_if_settled(store, r, tasks[r.request_id])
    await add_events(conn, events)
    return len(settled)


async def complete_if_settled(conn: asyncpg.Connection, r: Request) -> None:
    """For a request whose tasks may all be settled already (e.g. none were needed)."""
    store = DsrStore(conn)
    tasks = await store.tasks_of([r.request_id])
    await add_events(conn, await _complete_if_settled(store, r, tasks[r.request_id]))


async def _complete_if_settled(store: DsrStore, r: Request, tasks: list[Task]) -> list:
    if r.status is not Status.IN_PROGRESS or any(t.state in (TaskState.PENDING, TaskState.SENT) for t in tasks):
        return []
    failed = [t for t in tasks if t.state is TaskState.FAILED]
    if r.type in (RequestType.ACCESS, RequestType.PORTABILITY):
        await store.set_export(r.request_id, _export(r, await store.export(r.request_id), tasks))
    if failed:
        r.move_to(Status.PARTIALLY_COMPLETED, "; ".join(f"{t.processor}: {t.reason}" for t in failed))
    else:
        r.move_to(Status.COMPLETED, f"confirmed by {len(tasks)} processor(s)")
    await store.save(r)
    return [status_changed(r)]


def _export(r: Request, record: bytes | None, tasks: list[Task]) -> bytes:
    document = {
        "requestId": r.request_id, "subjectId": r.subject_id, "type": r.type.name,
        "receivedAt": r.received_at.isoformat(), "consentry": json.loads(record) if record else {},
        "processors": {t.processor: (json.loads(t.data_json) if t.state is TaskState.CONFIRMED and t.data_json
                                     else {"unavailable": t.reason}) for t in tasks},
    }
    return json.dumps(document, ensure_ascii=False, indent=2).encode()
