"""Sending tasks to processors, and sending again what was not confirmed in time (a broker that
lost the message, a processor that crashed mid-task). The wait doubles with every attempt; after
the last one the task fails with the reason, which the DPO sees on the request.

Each processor has at most `window` tasks out on their first attempt, so the wait measures the
processor's work on a bounded queue rather than how much was sent before: a busy processor is not
sent the same tasks again, and a burst of requests waits here, in order, instead of in the topic.
A task sent again gives up its place, so a processor that stopped answering does not hold back the
rest of its backlog from failing in time."""

import asyncio
from datetime import UTC, datetime, timedelta

import asyncpg
from aiokafka import AIOKafkaProducer

from services.common.erasure import SubjectTagger
from services.common.logging import get_logger
from services.common.topics import tasks_for
from services.dsr.domain.model import Task, TaskOutcome, TaskState
from services.dsr.events.payloads import task_notice
from services.dsr.service.settlement import Settlement
from services.dsr.store.repository import DsrStore

log = get_logger(__name__)


class TaskDispatcher:
    def __init__(self, pool: asyncpg.Pool, producer: AIOKafkaProducer, tagger: SubjectTagger,
                 settlement: Settlement, *,
                 confirm_timeout_s: float = 30.0, max_attempts: int = 8, window: int = 512,
                 batch: int = 500) -> None:
        """`tagger`: the Kafka key is the subject's keyed tag, so one subject's tasks share a partition
        (and stay in order) without the message naming them."""
        self._pool, self._producer, self._tagger, self._settlement = pool, producer, tagger, settlement
        self._timeout, self._max_attempts, self._window, self._batch = confirm_timeout_s, max_attempts, window, batch
        self._wakeup = asyncio.Event()

    def tasks_added(self) -> None:
        """New tasks, or a confirmation that freed a place in its processor's window."""
        self._wakeup.set()

    async def run(self, idle_s: float = 0.5) -> None:
        while True:
            try:
                sent = await self.send_due()
            except Exception as exc:  # noqa: BLE001 - broker or database away: the tasks stay due
                log.warning("task dispatch retrying", error=str(exc))
                sent = 0
            if sent < self._batch:
                self._wakeup.clear()
                try:
                    await asyncio.wait_for(self._wakeup.wait(), idle_s)
                except TimeoutError:
                    pass

    async def send_due(self) -> int:
        now = datetime.now(UTC)
        async with self._pool.acquire() as conn, conn.transaction():
            store = DsrStore(conn)
            due = await store.due_tasks(now, self._window, self._batch)
            sent, deliveries, given_up = [], [], []
            for task, r in due:
                if task.attempts >= self._max_attempts:
                    given_up.append(TaskOutcome(task.task_id, task.processor, False,
                                                f"no confirmation from {task.processor} after {task.attempts} attempts"))
                    continue
                self._sent(task, now)
                # On the processor's own topic, one subject's tasks in one partition: kept in order.
                deliveries.append(await self._producer.send(tasks_for(task.processor),
                                                            task_notice(task).SerializeToString(),
                                                            key=self._tagger.tag(r.subject_id).encode()))
                sent.append(task)
            await asyncio.gather(*deliveries)  # acknowledged by the broker before the attempt counts
            await store.mark_sent(sent)
            await self._settlement.settle_tasks(conn, given_up)
        return len(due)

    def _sent(self, task: Task, now: datetime) -> None:
        task.attempts += 1
        task.state = TaskState.SENT
        task.next_attempt_at = now + timedelta(seconds=self._timeout * 2 ** min(task.attempts - 1, 6))
        if task.attempts > 1:
            task.reason = f"re-sent (attempt {task.attempts}): not confirmed within the timeout"
