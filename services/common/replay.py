"""Answers consumers that found a gap in a producer's sequence (the broker lost events): when a
replay request names this service, its outbox publishes again from the requested sequence. Old
requests are not acted on after a restart; a consumer still missing events asks again. The same
topic brings the audit log's acknowledgements, up to where the outbox may be pruned."""

import asyncio

import asyncpg

from consentry.events.v1 import outbox_pb2
from services.common.kafka import consumer as kafka_consumer
from services.common.kafka import ensure_topics, partitions_of, stop_consumer, stray_cancellation_as_error
from services.common.logging import get_logger
from services.common.outbox import request_replay
from services.common.outbox_retention import acknowledge
from services.common.settings import KafkaSettings

log = get_logger(__name__)

# The Kafka header "type" of the topic's two kinds of message (none: a replay request).
REPLAY_REQUEST, ACKNOWLEDGEMENT = "outbox.replay-request", "outbox.acknowledgement"


class ReplayListener:
    def __init__(self, kafka: KafkaSettings, pool: asyncpg.Pool, producer_name: str, on_replay) -> None:
        self._kafka, self._pool, self._name, self._on_replay = kafka, pool, producer_name, on_replay

    async def run(self) -> None:
        while True:
            consumer = kafka_consumer(self._kafka, enable_auto_commit=False, client_id=f"{self._kafka.client_id}-replay",
                                      auto_offset_reset="latest")
            try:
                with stray_cancellation_as_error():
                    await ensure_topics(self._kafka, [self._kafka.replay_topic])  # gone if the broker lost its data
                    await consumer.start()
                    partitions = await partitions_of(consumer, [self._kafka.replay_topic])
                    if not partitions:
                        raise LookupError(f"topic {self._kafka.replay_topic} has no partitions yet")
                    consumer.assign(partitions)
                    await consumer.seek_to_end()
                    async for message in consumer:
                        if dict(message.headers or ()).get("type") == ACKNOWLEDGEMENT.encode():
                            await self._acknowledged(message.value)
                        else:
                            await self._handle(message.value)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - broker away: listen again later
                log.warning("replay listener retrying", error=str(exc))
                await asyncio.sleep(2.0)
            finally:
                await stop_consumer(consumer)

    async def _acknowledged(self, value: bytes) -> None:
        ack = outbox_pb2.Acknowledgement()
        try:
            ack.ParseFromString(value)
        except Exception:  # noqa: BLE001 - not ours to understand
            return
        if ack.producer == self._name and 0 < ack.complete_up_to < 2**63:
            await acknowledge(self._pool, ack.complete_up_to)

    async def _handle(self, value: bytes) -> None:
        request = outbox_pb2.ReplayRequest()
        try:
            request.ParseFromString(value)
        except Exception:  # noqa: BLE001 - not ours to understand
            return
        if request.producer != self._name or request.from_sequence < 1:
            return
        count = await request_replay(self._pool, request.from_sequence)
        log.info("outbox replay requested", from_sequence=request.from_sequence, events=count,
                 requested_by=request.requested_by)
        self._on_replay()
