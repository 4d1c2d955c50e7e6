"""The processor registry: the face systems that hold data a request may concern. A processor is
its authenticated identity: it registers and changes only itself, reads only its own topic, and acts
on a task only once it has confirmed it here. An operator may deregister one; its open tasks then
fail with the reason, so no request waits for an answer that will never come."""

import json
from collections.abc import Callable
from datetime import datetime
from typing import Protocol

import asyncpg

from services.common.idempotency import IdempotencyScope, fingerprint
from services.common.idempotency import run_once_decoded as run_once
from services.dsr.domain import errors
from services.dsr.domain.model import Processor, Request, Task, TaskOutcome
from services.dsr.service.settlement import Settlement
from services.dsr.store.repository import DsrStore


class ProcessorTopics(Protocol):
    async def provide(self, processor: str) -> None:
        """The processor's task and result topics exist once this returns."""


class Processors:
    def __init__(self, pool: asyncpg.Pool, topics: ProcessorTopics, settlement: Settlement,
                 on_commit: Callable[[], None]) -> None:
        self._pool, self._topics, self._settlement, self._on_commit = pool, topics, settlement, on_commit

    async def register(self, p: Processor) -> Processor:
        # Topics first: a registered processor's tasks never go to a topic that is not there.
        await self._topics.provide(p.name)
        async with self._pool.acquire() as conn:
            return await DsrStore(conn).register(p)

    async def registered(self) -> list[Processor]:
        async with self._pool.acquire() as conn:
            return await DsrStore(conn).processors()

    async def deregister(self, name: str, reason: str, scope: IdempotencyScope,
                         request_bytes: bytes) -> tuple[Processor, int]:
        """The processor and how many open tasks failed; a retry returns the first answer."""
        async def work() -> tuple[Processor, int]:
            store = DsrStore(conn)
            processor = await store.deregister(name)
            if processor is None:
                raise errors.ProcessorNotFound(name)
            failing = [TaskOutcome(task.task_id, name, False, f"processor {name} deregistered: {reason}")
                       for task, _ in await store.open_tasks(name)]
            return processor, await self._settlement.settle_tasks(conn, failing)

        async with self._pool.acquire() as conn, conn.transaction():
            answer = await run_once(conn, scope, fingerprint(request_bytes), work, _encoded, _decoded)
        self._on_commit()
        return answer

    async def confirm(self, processor: str, task_ids: list[str]) -> list[tuple[Task, Request]]:
        """Of these ids, the open tasks that are the processor's own."""
        async with self._pool.acquire() as conn:
            return await DsrStore(conn).open_tasks(processor, task_ids)


def _encoded(answer: tuple[Processor, int]) -> bytes:
    p, failed = answer
    return json.dumps({"name": p.name, "capabilities": sorted(p.capabilities), "purposes": sorted(p.purpose_ids),
                       "registeredAt": p.registered_at.isoformat() if p.registered_at else None,
                       "tasksFailed": failed}).encode()


def _decoded(data: bytes) -> tuple[Processor, int]:
    d = json.loads(data)
    registered = datetime.fromisoformat(d["registeredAt"]) if d["registeredAt"] else None
    return Processor(d["name"], frozenset(d["capabilities"]), frozenset(d["purposes"]), registered), d["tasksFailed"]
