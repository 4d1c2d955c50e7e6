"""The base of a face system's processor of data-subject-request tasks.

A processor is its authenticated identity: it registers under its own name (DsrService.
RegisterProcessor), reads its tasks on a topic of its own, `dsr.tasks.<name>`, and answers each with
one result on `dsr.task-results.<name>`, keyed by request id. Before acting on what it read it asks
the DSR service which of those tasks are really its own and open (ConfirmTasks) and acts on the
service's answer only, so a message someone else put on the topic deletes nothing. The DSR service
re-sends a task until it sees the result, so a task is handled once per task_id and a repeat is
answered from the journal. Offsets are committed only after the results are durable (acks=all), so a
crash in between re-delivers the tasks: at least once, made harmless by the journal.

Tasks are fetched in batches and handled side by side, one subject's tasks in the order they came,
so a slow handler (a database round trip, a file store) does not hold up every other subject.
"""

import asyncio
import json
import logging
from collections import defaultdict
from enum import IntEnum

import grpc
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.abc import ConsumerRebalanceListener
from aiokafka.errors import CommitFailedError, IllegalStateError, KafkaError
from aiokafka.structs import ConsumerRecord
from google.protobuf.message import DecodeError

from consentry.dsr.v1 import dsr_pb2, dsr_pb2_grpc
from consentry.dsr.v1 import tasks_pb2
from consentry.dsr.v1.tasks_pb2 import DsrTask, DsrTaskResult
from consentry_client.journal import InMemoryTaskJournal, TaskJournal
from consentry_client.kafka import (
    RESULTS_PREFIX, TASKS_PREFIX, StrayCancellation, stop_consumer, stray_cancellation_as_error,
)
from consentry_client.sealing import seal_result

log = logging.getLogger(__name__)


class TaskFailed(Exception):
    """Raised by a handler: the task cannot be done, and `reason` tells the DPO why."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class TaskAction(IntEnum):
    """What a task asks of the face system: `TaskAction(task.task_action)` (DsrTask.task_action)."""

    ACCESS = tasks_pb2.TASK_ACTION_ACCESS
    DELETE = tasks_pb2.TASK_ACTION_DELETE
    CORRECT = tasks_pb2.TASK_ACTION_CORRECT


class _Membership(ConsumerRebalanceListener):
    def __init__(self, ready: asyncio.Event) -> None:
        self._ready = ready

    async def on_partitions_revoked(self, revoked) -> None:
        self._ready.clear()

    async def on_partitions_assigned(self, assigned) -> None:
        self._ready.set()


class DsrProcessor:
    """Subclass it and implement the actions the face system supports; the others report failure.

    A handler that raises TaskFailed gets a failed result, remembered like a success. Any other
    exception is reported as failed with only its class name and is not remembered, so the re-sent
    task is tried again.
    """

    def __init__(self, name: str, kafka: dict, dsr: grpc.aio.Channel, *, journal: TaskJournal | None = None,
                 enable_idempotence: bool = False, session_timeout_ms: int = 10_000,
                 client_id: str | None = None, concurrency: int = 16, max_batch: int = 256,
                 settled_check_s: float = 60.0) -> None:
        """`name` is this face system's identity (its certificate's common name); `kafka` its broker
        connection (consentry_client.kafka_options); `dsr` a channel to the DSR service, which
        confirms every task before it is acted on."""
        self.name = name
        self._kafka = kafka
        self._dsr = dsr_pb2_grpc.DsrServiceStub(dsr)
        self._tasks_topic, self._results_topic = TASKS_PREFIX + name, RESULTS_PREFIX + name
        self._journal: TaskJournal = journal if journal is not None else InMemoryTaskJournal()
        # Apache Kafka: True. Tansu (the dev broker) has no idempotent producer.
        self._enable_idempotence = enable_idempotence
        # How soon the group hands a silent instance's partitions to another. Tansu also scales its
        # group joins by it: about half of it for a first join, about twice it after a restart.
        self._session_timeout_ms = session_timeout_ms
        self._client_id = client_id or f"consentry-processor-{name}"
        self._concurrency, self._max_batch = concurrency, max_batch
        self._settled_check_s = settled_check_s
        # Set once the consumer group has given this instance its partitions (on Tansu, seconds).
        self.ready = asyncio.Event()
        # Set if consuming stopped other than by stop(): on an error, or cancelled by something else: the
        # process should exit and be restarted. (A CancelledError of aiokafka's own is no such end: the
        # consumer is opened anew and consuming goes on.)
        self.failed = asyncio.Event()
        self._consumer: AIOKafkaConsumer | None = None
        self._producer: AIOKafkaProducer | None = None
        self._consuming: asyncio.Task | None = None
        self._forgetting: asyncio.Task | None = None

    async def handle_delete(self, task: DsrTask) -> str:
        raise TaskFailed(f"{self.name} does not support delete")

    async def handle_access(self, task: DsrTask) -> dict:
        raise TaskFailed(f"{self.name} does not support access")

    async def handle_correct(self, task: DsrTask) -> str:
        raise TaskFailed(f"{self.name} does not support correct")

    async def run(self) -> None:
        """Processes tasks until cancelled."""
        await self._open()
        try:
            async with asyncio.TaskGroup() as group:
                group.create_task(self._consume())
                group.create_task(self._forget_settled())
        finally:
            await self._close()

    async def start(self) -> None:
        await self._open()
        self._consuming = asyncio.create_task(self._consume(), name=self._client_id)
        self._consuming.add_done_callback(self._report_death)
        self._forgetting = asyncio.create_task(self._forget_settled(), name=f"{self._client_id}-journal")

    async def stop(self) -> None:
        running = [t for t in (self._consuming, self._forgetting) if t is not None]
        self._consuming = self._forgetting = None
        for task in running:
            task.cancel()
        if running:
            await asyncio.wait(running)
        await self._close()

    async def __aenter__(self) -> "DsrProcessor":
        await self.start()
        return self

    async def __aexit__(self, *exc_info) -> None:
        await self.stop()

    async def _open(self) -> None:
        if self._consumer is not None:
            raise RuntimeError(f"processor {self.name} is already running")
        self.ready.clear()
        # A short linger gathers the results of tasks finishing together into one produce request.
        self._producer = AIOKafkaProducer(**self._kafka, acks="all", linger_ms=5,
                                          enable_idempotence=self._enable_idempotence, client_id=self._client_id)
        await self._producer.start()
        try:
            await self._open_consumer()
        except BaseException:
            await self._producer.stop()
            raise

    async def _open_consumer(self) -> None:
        # "earliest": a processor's first start still finds the tasks sent before it existed. A short
        # fetch wait: Tansu answers a fetch when its wait ends, not when a task arrives, so the wait is
        # what a task spends in the topic (a deletion's two hops took 218 ms at the default 500 ms, 42 ms at 50).
        self._consumer = AIOKafkaConsumer(**self._kafka, client_id=self._client_id,
                                          group_id=f"consentry-processor-{self.name}", enable_auto_commit=False,
                                          auto_offset_reset="earliest", session_timeout_ms=self._session_timeout_ms,
                                          fetch_max_wait_ms=50,
                                          heartbeat_interval_ms=self._session_timeout_ms // 3)
        try:
            await self._consumer.start()
        except BaseException:
            self._consumer = None
            raise
        self._consumer.subscribe([self._tasks_topic], listener=_Membership(self.ready))

    async def _close(self) -> None:
        consumer, producer, self._consumer, self._producer = self._consumer, self._producer, None, None
        self.ready.clear()
        try:
            if consumer is not None:
                await stop_consumer(consumer)
        finally:
            if producer is not None:
                await producer.stop()

    async def _consume(self) -> None:
        while True:
            try:
                with stray_cancellation_as_error():
                    await self._consume_batches()
            except StrayCancellation:
                # The client may be left half-stopped by it: a new one, in the same group, takes over
                # from the last committed offsets (the journal answers what was handled meanwhile).
                log.warning("processor %s: the Kafka consumer ended with a CancelledError of its own;"
                            " opening a new one", self.name)
                consumer, self._consumer = self._consumer, None
                self.ready.clear()
                if consumer is not None:
                    await stop_consumer(consumer)
                await self._reopen_consumer()

    async def _reopen_consumer(self) -> None:
        while True:
            try:
                return await self._open_consumer()
            except KafkaError as error:  # the broker away: it is tried again, as at a restart
                log.warning("processor %s: no new Kafka consumer yet (%s)", self.name, error)
                await asyncio.sleep(1.0)

    async def _consume_batches(self) -> None:
        while True:
            batch = await self._consumer.getmany(timeout_ms=1_000, max_records=self._max_batch)
            if not batch:
                continue
            read = [task for records in batch.values() for task in map(self._own_task, records) if task]
            try:
                deliveries = await self._handle_side_by_side(await self._confirmed(read))
                await asyncio.gather(*deliveries)
            except Exception:  # the journal's database, the broker or dsr away: the batch comes again
                log.exception("processor %s: a batch of %d task(s) is handled again", self.name, len(read))
                for tp, records in batch.items():
                    if tp in self._consumer.assignment():
                        self._consumer.seek(tp, records[0].offset)
                await asyncio.sleep(1.0)
                continue
            await self._commit(batch)

    async def _commit(self, batch: dict) -> None:
        assigned = self._consumer.assignment()
        offsets = {tp: records[-1].offset + 1 for tp, records in batch.items() if tp in assigned}
        if not offsets:
            return
        try:
            await self._consumer.commit(offsets)
        except (CommitFailedError, IllegalStateError):
            # A rebalance took a partition meanwhile; its next owner re-delivers and the journal answers.
            log.warning("commit of %d task message(s) lost to a rebalance", sum(map(len, batch.values())))

    async def _confirmed(self, read: list[DsrTask]) -> list[DsrTask]:
        """What dsr holds for the tasks read: only the open tasks that are really this processor's,
        in the order they were read. Anything else on the topic is logged and left alone."""
        if not read:
            return []
        answer = await self._dsr.ConfirmTasks(dsr_pb2.ConfirmTasksRequest(
            task_ids=list(dict.fromkeys(t.task_id for t in read))), timeout=10)
        confirmed = {t.task_id: t for t in answer.tasks if t.processor == self.name}
        for task in read:
            if task.task_id not in confirmed:
                log.warning("processor %s: task %s not confirmed by dsr (settled, or never sent): not acted on",
                            self.name, task.task_id)
        return [confirmed.pop(t.task_id) for t in read if t.task_id in confirmed]

    async def _forget_settled(self) -> None:
        """Forgets the journal's results of tasks dsr no longer holds open: settled, or gone."""
        while True:
            await asyncio.sleep(self._settled_check_s)
            try:
                remembered = await self._journal.task_ids(1000)  # ConfirmTasks' own limit
                if not remembered:
                    continue
                answer = await self._dsr.ConfirmTasks(dsr_pb2.ConfirmTasksRequest(task_ids=remembered), timeout=10)
                still_open = {t.task_id for t in answer.tasks}
                await self._journal.forget([t for t in remembered if t not in still_open])
            except Exception:  # dsr or the journal's database away: the next round asks again
                log.warning("processor %s: the journal's settled tasks are forgotten later", self.name,
                            exc_info=True)

    def _own_task(self, message: ConsumerRecord) -> DsrTask | None:
        try:
            task = DsrTask.FromString(message.value or b"")
        except DecodeError:
            log.warning("skipping a message on %s that is not a DsrTask", self._tasks_topic)
            return None
        if task.processor != self.name:
            return None
        if not task.task_id:
            log.warning("skipping a task without task_id (request %s)", task.request_id)
            return None
        return task

    async def _handle_side_by_side(self, tasks: list[DsrTask]) -> list[asyncio.Future]:
        """Each result is sent as soon as its task is done; returns the deliveries to wait for. If one
        task cannot even be answered (journal or broker away), the others stop too."""
        lanes = asyncio.Semaphore(self._concurrency)
        by_subject: dict[str, list[DsrTask]] = defaultdict(list)
        for task in tasks:
            by_subject[task.subject_id].append(task)
        deliveries: list[asyncio.Future] = []

        async def in_order(subject_tasks: list[DsrTask]) -> None:
            async with lanes:
                for task in subject_tasks:
                    result = await self._result(task)
                    deliveries.append(await self._producer.send(self._results_topic, result.SerializeToString(),
                                                                key=result.request_id.encode()))
        async with asyncio.TaskGroup() as group:
            for subject_tasks in by_subject.values():
                group.create_task(in_order(subject_tasks))
        return deliveries

    async def _result(self, task: DsrTask) -> DsrTaskResult:
        result = await self._journal.get(task.task_id)
        if result is None:
            result, settled = await self._outcome(task)
            if settled:
                await self._journal.put(result)
        return result

    async def _outcome(self, task: DsrTask) -> tuple[DsrTaskResult, bool]:
        """The result, and whether it is final (worth remembering for the re-sent copies of the task)."""
        done = DsrTaskResult(task_id=task.task_id, request_id=task.request_id, processor=self.name, ok=True)
        try:
            action = _action_of(task)
            if action is TaskAction.DELETE:
                done.summary = await self.handle_delete(task)
            elif action is TaskAction.ACCESS:
                if len(task.result_key) != 32:
                    raise TaskFailed("dsr sent no key to seal the access result under")
                data = json.dumps(await self.handle_access(task), ensure_ascii=False, sort_keys=True).encode()
                done.sealed_data = seal_result(task.result_key, task.task_id, data)
                done.summary = "data exported"
            else:  # TaskAction.CORRECT
                done.summary = await self.handle_correct(task)
        except TaskFailed as failure:
            return self._failed(task, failure.reason), True
        except Exception as error:
            log.exception("task %s (action %d) failed unexpectedly", task.task_id, task.task_action)
            return self._failed(task, type(error).__name__), False
        return done, True

    def _failed(self, task: DsrTask, reason: str) -> DsrTaskResult:
        return DsrTaskResult(task_id=task.task_id, request_id=task.request_id, processor=self.name, ok=False,
                             reason=reason)

    def _report_death(self, consuming: asyncio.Task) -> None:
        if consuming is not self._consuming:  # stop() let go of it first
            return
        error = None if consuming.cancelled() else consuming.exception()
        log.error("processor %s stopped%s", self.name, "" if error else ": cancelled, not by stop()", exc_info=error)
        self.failed.set()


def _action_of(task: DsrTask) -> TaskAction:
    """A task's action; one this library does not know (unset, or added to the protos since) fails."""
    try:
        return TaskAction(task.task_action)
    except ValueError:
        raise TaskFailed(f"unknown action {task.task_action}") from None
