"""What dsr reads from Kafka: processors' task results (dsr.task-results) and consent changes
(consent.events) that oblige processors to delete a purpose's data. Offsets are committed only
after the batch was applied; applying twice changes nothing (results settle a task once; a consent
event opens one request per event id)."""

import asyncio
import json
from collections.abc import Awaitable, Callable

import asyncpg
from aiokafka import AIOKafkaConsumer
from aiokafka.structs import ConsumerRecord
from google.protobuf.message import DecodeError

from consentry.consent.v1 import events_pb2 as consent_events
from consentry.dsr.v1 import tasks_pb2
from consentry.events.v1 import envelope_pb2
from services.common.idempotency import IdempotencyScope
from services.common.logging import get_logger
from services.common.settings import KafkaSettings
from services.dsr.domain.model import RequestType, TaskOutcome
from services.dsr.service.requests import Submission
from services.dsr.service.settlement import settle_tasks

log = get_logger(__name__)
MAX_NOTE = 2000  # characters of a processor's summary or reason kept on the task
OBLIGING = {"consent.withdrawn": consent_events.ConsentWithdrawn, "consent.expired": consent_events.ConsentExpired}


class DsrConsumer:
    def __init__(self, kafka: KafkaSettings, pool: asyncpg.Pool, results_topic: str, consent_topic: str,
                 submit: Callable[[Submission, IdempotencyScope, bytes], Awaitable[object]],
                 on_commit: Callable[[], None]) -> None:
        self._kafka, self._pool, self._submit, self._on_commit = kafka, pool, submit, on_commit
        self._results_topic, self._consent_topic = results_topic, consent_topic

    async def run(self) -> None:
        while True:
            # A short fetch wait: the dev broker answers when the wait ends, even with results waiting.
            consumer = AIOKafkaConsumer(
                self._results_topic, self._consent_topic, bootstrap_servers=self._kafka.bootstrap_servers,
                group_id="consentry-dsr", enable_auto_commit=False, auto_offset_reset="earliest",
                client_id=f"{self._kafka.client_id}-dsr", fetch_max_wait_ms=50)
            try:
                await consumer.start()
                while True:
                    batch = await consumer.getmany(timeout_ms=500, max_records=500)
                    records = [record for records in batch.values() for record in records]
                    await self._settle([r for r in records if r.topic == self._results_topic])
                    for record in records:
                        if record.topic == self._consent_topic:
                            await self._open_withdrawal(record)
                    if batch:
                        await consumer.commit()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - broker or database away: read again from the last commit
                log.warning("dsr consumer retrying", error=str(exc))
                await asyncio.sleep(1.0)
            finally:
                await consumer.stop()

    async def _settle(self, records: list[ConsumerRecord]) -> None:
        """A batch of results in one transaction: one commit, not one per result."""
        results = []
        for record in records:
            try:
                results.append(tasks_pb2.DsrTaskResult.FromString(record.value))
            except DecodeError:  # not ours to read; never block the rest
                log.warning("unreadable message skipped", topic=record.topic, offset=record.offset)
        if not results:
            return
        outcomes = [o for o in map(outcome_of, results) if o is not None]
        for attempt in range(1, 4):
            try:
                async with self._pool.acquire() as conn, conn.transaction():
                    settled = await settle_tasks(conn, outcomes)
                break
            except asyncpg.exceptions.DeadlockDetectedError:
                # Another replica settling an overlapping batch (handed over by a rebalance) locked
                # the same tasks in another order: one of the two tries again.
                if attempt == 3:
                    raise
                await asyncio.sleep(0.05 * attempt)
        if settled:
            self._on_commit()

    async def _open_withdrawal(self, record: ConsumerRecord) -> None:
        try:
            envelope = envelope_pb2.EventEnvelope.FromString(record.value)
        except DecodeError:
            log.warning("unreadable message skipped", topic=record.topic, offset=record.offset)
            return
        kind = OBLIGING.get(envelope.type)
        if kind is None:
            return
        change = kind()
        envelope.payload.Unpack(change)
        consent = change.consent
        await self._submit(
            Submission(RequestType.WITHDRAWAL, consent.subject_id, consent.jurisdiction or "CN",
                       purpose_id=consent.purpose_id, details=envelope.type, automatic=True,
                       retention_driven=envelope.type == "consent.expired"),
            IdempotencyScope("dsr", "ConsentEvent", envelope.event_id), envelope.event_id.encode())


def outcome_of(r: tasks_pb2.DsrTaskResult) -> TaskOutcome | None:
    """A processor's result as settlement takes it. What PostgreSQL cannot store (a NUL in text) or
    an export cannot hold (data that is not a JSON object) is dealt with here, so that one bad result
    never blocks the batch it arrived in, nor every later one."""
    if not r.task_id or "\x00" in r.task_id:
        log.warning("result without a usable task id skipped", request_id=r.request_id.replace("\x00", ""))
        return None
    note = (r.summary if r.ok else r.reason).replace("\x00", "")[:MAX_NOTE]
    if r.data_json:
        try:
            readable = isinstance(json.loads(r.data_json), dict)
        except ValueError:
            readable = False
        if not readable:
            return TaskOutcome(r.task_id, False, "the data sent is not a JSON object")
    return TaskOutcome(r.task_id, r.ok, note, r.data_json)
