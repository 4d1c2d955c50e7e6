"""Settling tasks and, once every processor answered, the request: COMPLETED when all confirmed,
PARTIALLY_COMPLETED with each processor's reason otherwise. Results are applied once per task, so a
result delivered twice changes nothing the second time. A batch of results is settled with a few
statements whatever its size: one update of the tasks, one lock of their requests, one read of those
requests' tasks, one insert of the events, and a save per request that is now complete. An access
result's data arrives sealed under its task's key and is opened here; the batch's completed deletions have
dsr forget their people in the same transaction, in three statements for all of them
(services/dsr/service/forgetting.py)."""

import json
from dataclasses import replace

from cryptography.exceptions import InvalidTag

from consentry_client.sealing import open_result
from services.dsr.domain.events import RequestStatusChanged, TaskSettled
from services.dsr.domain.model import Request, RequestType, Status, Task, TaskOutcome, TaskState
from services.dsr.service.forgetting import Forgetting
from services.dsr.service.ports import DsrStore, DsrWork


class Settlement:
    def __init__(self, forgetting: Forgetting) -> None:
        self._forgetting = forgetting

    async def settle_tasks(self, uow: DsrWork, outcomes: list[TaskOutcome]) -> int:
        """In the caller's unit of work; returns how many tasks were settled now (unknown or settled ones
        are skipped)."""
        if not outcomes:
            return 0
        store = uow.store
        first = list({o.task_id: o for o in reversed(outcomes)}.values())  # a task answered twice: its first answer
        settled = await store.settle(await _opened(store, first))
        if not settled:
            return 0
        requests = await store.lock_requests(sorted({t.request_id for t in settled}))
        tasks = await store.tasks_of(list(requests))
        completed = [r for r in requests.values() if await self._complete_if_settled(store, r, tasks[r.request_id])]
        await self._forget_deleted(store, completed)
        # After the forgetting: a deletion's last results then name nobody either.
        for t in settled:
            uow.emit(TaskSettled.of(requests[t.request_id], t))
        for r in completed:
            uow.emit(RequestStatusChanged.of(r))
        return len(settled)

    async def complete_if_settled(self, uow: DsrWork, r: Request) -> None:
        """For a request whose tasks may all be settled already (e.g. none were needed)."""
        tasks = await uow.store.tasks_of([r.request_id])
        if await self._complete_if_settled(uow.store, r, tasks[r.request_id]):
            await self._forget_deleted(uow.store, [r])
            uow.emit(RequestStatusChanged.of(r))

    async def _forget_deleted(self, store: DsrStore, completed: list[Request]) -> None:
        await self._forgetting.erased(store, [r for r in completed if r.type is RequestType.DELETION])

    async def _complete_if_settled(self, store: DsrStore, r: Request, tasks: list[Task]) -> bool:
        """Whether `r` was completed now."""
        if r.status is not Status.IN_PROGRESS or any(t.state in (TaskState.PENDING, TaskState.SENT) for t in tasks):
            return False
        failed = [t for t in tasks if t.state is TaskState.FAILED]
        if r.type in (RequestType.ACCESS, RequestType.PORTABILITY):
            await store.set_export(r.request_id, _export(r, await store.export(r.request_id), tasks))
        if failed:
            r.move_to(Status.PARTIALLY_COMPLETED, "; ".join(f"{t.processor}: {t.reason}" for t in failed))
        else:
            r.move_to(Status.COMPLETED, f"confirmed by {len(tasks)} processor(s)")
        await store.save(r)
        return True


async def _opened(store: DsrStore, outcomes: list[TaskOutcome]) -> list[TaskOutcome]:
    """Each access result's data opened with its task's key. Data that does not open, or is not a
    JSON object, fails its task (the processor is told why in the request), never the batch."""
    keys = await store.result_keys([o.task_id for o in outcomes if o.sealed])
    opened = []
    for o in outcomes:
        if o.sealed:
            data = _open(keys.get(o.task_id), o)
            o = (replace(o, data_json=data, sealed=False) if data is not None else
                 TaskOutcome(o.task_id, o.processor, False, "the data sent could not be opened or is not a JSON object"))
        opened.append(o)
    return opened


def _open(key: bytes | None, o: TaskOutcome) -> bytes | None:
    if key is None:
        return None
    try:
        data = open_result(key, o.task_id, o.data_json)
        return data if isinstance(json.loads(data), dict) else None
    except (InvalidTag, ValueError):
        return None


def _export(r: Request, record: bytes | None, tasks: list[Task]) -> bytes:
    document = {
        "requestId": r.request_id, "subjectId": r.subject_id, "type": r.type.name,
        "receivedAt": r.received_at.isoformat(), "consentry": json.loads(record) if record else {},
        "processors": {t.processor: (json.loads(t.data_json) if t.state is TaskState.CONFIRMED and t.data_json
                                     else {"unavailable": t.reason}) for t in tasks},
    }
    return json.dumps(document, ensure_ascii=False, indent=2).encode()
