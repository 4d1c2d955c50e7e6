"""Playing the DSR service's part on Kafka, with the session's real dsr as the source of truth: each
task is first written into dsr's database (as sent, so dsr itself does not send it), then published
on the processor's own topic; the processor confirms it with dsr before acting, and its results are
read from its results topic."""

import os
from datetime import UTC, datetime, timedelta

from aiokafka import AIOKafkaProducer
from aiokafka.structs import RecordMetadata

from consentry.dsr.v1.tasks_pb2 import DsrTask, DsrTaskResult
from services.common.topics import results_from, tasks_for
from services.dsr.domain.model import Request, RequestType, Status, Task, TaskState
from services.dsr.events.payloads import TASK_ACTIONS
from services.dsr.store.repository import DsrStore
from tests.consent.builders import CONTROLLER
from tests.support import topic_messages, unique

# A delete task as a withdrawal's: a settled deletion has dsr forget its person, and these tests reopen
# settled tasks (a result lost) to see them handled again.
ACTIONS = {"delete": RequestType.WITHDRAWAL, "access": RequestType.ACCESS, "correct": RequestType.CORRECTION}


class DsrPart:
    def __init__(self, kafka, dsr_pool, producer: AIOKafkaProducer) -> None:
        self._kafka, self._pool, self._producer = kafka, dsr_pool, producer
        self.result_keys: dict[str, bytes] = {}  # an access task's, by task id

    async def task(self, processor: str, action: str = "delete", subject_id: str | None = None,
                   recorded: bool = True, **fields) -> DsrTask:
        """A task for `processor`, known to dsr unless `recorded` is false (then only on the topic)."""
        sent = DsrTask(task_id=unique("task"), request_id=unique("dsr"), processor=processor,
                       task_action=TASK_ACTIONS[action], subject_id=subject_id or unique("subj"), attempt=1, **fields)
        if action == "access":
            self.result_keys[sent.task_id] = os.urandom(32)
        if recorded:
            now = datetime.now(UTC)
            # The processors' controller: a processor confirms only its own controller's tasks.
            r = Request(sent.request_id, ACTIONS[action], sent.subject_id, "DE", Status.IN_PROGRESS, now,
                        now + timedelta(days=30), corrections=dict(sent.corrections), controller_id=CONTROLLER)
            async with self._pool.acquire() as conn, conn.transaction():
                await DsrStore(conn).add(r)
                await DsrStore(conn).add_tasks([Task(sent.task_id, r.request_id, processor, action, TaskState.SENT,
                                                     attempts=1, next_attempt_at=now + timedelta(hours=1),
                                                     result_key=self.result_keys.get(sent.task_id))])
        return sent

    async def lose_result(self, sent: DsrTask) -> None:
        """As if the processor's answer had never reached dsr: the task is open again (and is sent again)."""
        await self._pool.execute("UPDATE tasks SET state = 'SENT', confirmed_at = NULL WHERE task_id = $1",
                                 sent.task_id)

    async def publish(self, sent: DsrTask, partition: int | None = None) -> RecordMetadata:
        return await self._producer.send_and_wait(tasks_for(sent.processor), sent.SerializeToString(),
                                                  key=sent.subject_id.encode(), partition=partition)

    async def results_of(self, processor: str, request_id: str, count: int = 1) -> list[DsrTaskResult]:
        """The request's results: everything on the processor's results topic now, and then on until
        `count` of them arrived."""
        return await topic_messages(self._kafka, results_from(processor), DsrTaskResult,
                                    lambda r: r.request_id == request_id, at_least=count)
