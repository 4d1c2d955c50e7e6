"""What dsr reads from Kafka: each processor's task results (on its own topic,
"dsr.task-results.<processor>") and consent changes (consent.events) that oblige processors to delete
a purpose's data. Offsets are committed only after the batch was applied; applying twice changes
nothing (results settle a task once; a consent event opens one request per event id).

Neither is taken on the topic's word alone: a result counts only for a task of the processor whose
topic it came on, and a withdrawal or expiry opens a deletion only once the consent service confirms
that it happened (a forged event on the topic changes nothing, and the log says so), at the controller
whose purpose it is (the envelope's controller, in the clear, must be that one)."""

import asyncio
import re
from collections.abc import Awaitable, Callable

from aiokafka.structs import ConsumerRecord
from google.protobuf.message import DecodeError

from consentry.consent.v1 import events_pb2 as consent_events
from consentry.dsr.v1 import tasks_pb2
from consentry.events.v1 import envelope_pb2
from services.common.idempotency import IdempotencyKey, IdempotencyScope
from services.common.kafka import consumer as kafka_consumer
from services.common.kafka import stop_consumer, stray_cancellation_as_error
from services.common.logging import get_logger
from services.common.settings import KafkaSettings
from services.common.topics import DSR_GROUP, RESULTS_PREFIX, processor_of_results
from services.dsr.domain.model import RequestType, TaskOutcome
from services.dsr.service.requests import Submission

log = get_logger(__name__)
MAX_NOTE = 2000  # characters of a processor's summary or reason kept on the task
OBLIGING = {"consent.withdrawn": consent_events.ConsentWithdrawn, "consent.expired": consent_events.ConsentExpired}
# A newly registered processor's results topic is found within this long.
TOPIC_DISCOVERY_MS = 2000

# controller the event names, subject, purpose, event id, type -> the consent's controller if the event is
# confirmed, else None
ConfirmConsentEvent = Callable[[str, str, str, str, str], Awaitable[str | None]]
OpenEvents = Callable[[list[envelope_pb2.EventEnvelope]], Awaitable[list[envelope_pb2.EventEnvelope]]]


class DsrConsumer:
    def __init__(self, kafka: KafkaSettings, consent_topic: str,
                 submit: Callable[[Submission, IdempotencyKey], Awaitable[object]],
                 confirm: ConfirmConsentEvent, open_events: OpenEvents,
                 settle_results: Callable[[list[TaskOutcome]], Awaitable[int]]) -> None:
        """`open_events`: the consent service opens what it sealed (EventService.OpenEvents);
        `settle_results`: the use case settling a batch of results (service/processors.py)."""
        self._kafka, self._submit, self._confirm = kafka, submit, confirm
        self._open_events, self._settle_results, self._consent_topic = open_events, settle_results, consent_topic
        self._pattern = f"^({re.escape(consent_topic)}|{re.escape(RESULTS_PREFIX)}.+)$"

    async def run(self) -> None:
        while True:
            # A short fetch wait: the dev broker answers when the wait ends, even with results waiting.
            consumer = kafka_consumer(self._kafka, group_id=DSR_GROUP, enable_auto_commit=False,
                                      auto_offset_reset="earliest", client_id=f"{self._kafka.client_id}-dsr",
                                      fetch_max_wait_ms=50, metadata_max_age_ms=TOPIC_DISCOVERY_MS)
            try:
                with stray_cancellation_as_error():
                    await consumer.start()
                    consumer.subscribe(pattern=self._pattern)
                    while True:
                        batch = await consumer.getmany(timeout_ms=500, max_records=500)
                        records = [record for records in batch.values() for record in records]
                        await self._settle([r for r in records if processor_of_results(r.topic)])
                        for envelope in await self._open_events(self._obliging(records)):
                            await self._open_withdrawal(envelope)
                        if batch:
                            await consumer.commit()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - broker, database or consent away: read again from the last commit
                log.warning("dsr consumer retrying", error=str(exc))
                await asyncio.sleep(1.0)
            finally:
                await stop_consumer(consumer)

    async def _settle(self, records: list[ConsumerRecord]) -> None:
        """A batch of results in one transaction: one commit, not one per result."""
        outcomes = []
        for record in records:
            try:
                result = tasks_pb2.DsrTaskResult.FromString(record.value)
            except DecodeError:  # not ours to read; never block the rest
                log.warning("unreadable message skipped", topic=record.topic, offset=record.offset)
                continue
            outcome = outcome_of(result, processor_of_results(record.topic))
            if outcome is not None:
                outcomes.append(outcome)
        if not outcomes:
            return
        await self._settle_results(outcomes)

    def _obliging(self, records: list[ConsumerRecord]) -> list[envelope_pb2.EventEnvelope]:
        """The consent events among the records that may oblige processors to delete, still sealed."""
        found = []
        for record in records:
            if record.topic != self._consent_topic:
                continue
            try:
                envelope = envelope_pb2.EventEnvelope.FromString(record.value)
            except DecodeError:
                log.warning("unreadable message skipped", topic=record.topic, offset=record.offset)
                continue
            if envelope.type in OBLIGING:
                found.append(envelope)
        return found

    async def _open_withdrawal(self, envelope: envelope_pb2.EventEnvelope) -> None:
        change = OBLIGING[envelope.type]()
        if not envelope.payload.Unpack(change):  # erased since, or not the consent service's own
            log.warning("consent event without a readable payload skipped", event_id=envelope.event_id)
            return
        consent = change.consent
        controller = await self._confirm(envelope.controller_id, consent.subject_id, consent.purpose_id,
                                         envelope.event_id, envelope.type)
        if controller is None:
            log.warning("consent event not confirmed by the consent service: nothing opened",
                        event_id=envelope.event_id, type=envelope.type)
            return
        if envelope.controller_id and envelope.controller_id != controller:
            log.warning("consent event naming another controller than its purpose's: nothing opened",
                        event_id=envelope.event_id, type=envelope.type)
            return
        await self._submit(
            Submission(RequestType.WITHDRAWAL, consent.subject_id, consent.jurisdiction or "CN",
                       purpose_id=consent.purpose_id, details=envelope.type, automatic=True,
                       retention_driven=envelope.type == "consent.expired", controller_id=controller),
            IdempotencyKey.of(IdempotencyScope("dsr", "ConsentEvent", envelope.event_id), envelope.event_id.encode()))


def outcome_of(r: tasks_pb2.DsrTaskResult, processor: str) -> TaskOutcome | None:
    """A result that came on `processor`'s topic, as settlement takes it (and settlement counts it only
    for that processor's own tasks). What PostgreSQL cannot store (a NUL in text) or an export cannot
    hold (data that is not a JSON object) is dealt with here, so that one bad result never blocks the
    batch it arrived in, nor every later one."""
    if not r.task_id or "\x00" in r.task_id:
        log.warning("result without a usable task id skipped", processor=processor)
        return None
    if r.processor and r.processor != processor:
        log.warning("result naming another processor skipped", topic_of=processor, task_id=r.task_id)
        return None
    note = (r.summary if r.ok else r.reason).replace("\x00", "")[:MAX_NOTE]
    # Sealed data is opened (and found a JSON object, or the task fails) by settlement, which has the key.
    return TaskOutcome(r.task_id, processor, r.ok, note, r.sealed_data, sealed=bool(r.sealed_data))
