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

from services.common.logging import get_logger
from services.dsr.domain.model import Task, TaskOutcome, TaskState
from services.dsr.service.ports import DsrUnits, TaskSender
from services.dsr.service.settlement import Settlement

log = get_logger(__name__)


class TaskDispatcher:
    def __init__(self, uow: DsrUnits, sender: TaskSender, settlement: Settlement, *,
                 confirm_timeout_s: float = 30.0, max_attempts: int = 8, window: int = 512,
                 batch: int = 500) -> None:
        self._uow, self._sender, self._settlement = uow, sender, settlement
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
        async with self._uow() as uow:
            due = await uow.store.due_tasks(now, self._window, self._batch)
            sending, given_up = [], []
            for task, r in due:
                if task.attempts >= self._max_attempts:
                    given_up.append(TaskOutcome(task.task_id, task.processor, False,
                                                f"no confirmation from {task.processor} after {task.attempts} attempts"))
                    continue
                self._sent(task, now)
                sending.append((task, r))
            # On the processor's own topic, one subject's tasks in one partition (kept in order), each
            # acknowledged by the broker before its attempt counts.
            await self._sender.send(sending)
            await uow.store.mark_sent([task for task, _ in sending])
            await self._settlement.settle_tasks(uow, given_up)
            await uow.commit()
        return len(due)

    def _sent(self, task: Task, now: datetime) -> None:
        task.attempts += 1
        task.state = TaskState.SENT
        task.next_attempt_at = now + timedelta(seconds=self._timeout * 2 ** min(task.attempts - 1, 6))
        if task.attempts > 1:
            task.reason = f"re-sent (attempt {task.attempts}): not confirmed within the timeout"
