"""The sequencer's view of Kafka: every partition of the events topics, assigned manually and read
from the offsets stored with the log (so offsets and entries always move together). Sealed envelopes
are opened by the producer that sealed them (EventService.OpenEvents) before they are decoded; a
producer that cannot answer fails the poll, and the same records are read again."""

import asyncio
from collections import defaultdict

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import KafkaError

from consentry.events.v1 import envelope_pb2
from services.audit.domain.entry import Event
from services.audit.domain.completeness import Watermark
from services.audit.events.decoding import decode, envelope_of
from services.common.event_opener import EventOpener
from services.common.kafka import consumer, partitions_of, stop_consumer, stray_cancellation_as_error
from services.common.settings import KafkaSettings

# Envelopes decoded between yields to the event loop: the previous batch's transaction, under way
# meanwhile, moves on to its next statement at each (services/audit/service/sequencer.py).
DECODED_BETWEEN_YIELDS = 256


class KafkaSource:
    def __init__(self, kafka: KafkaSettings, topics: list[str], openers: dict[str, EventOpener]) -> None:
        """`openers`: by producer name; another producer's sealed envelope enters the log unopened."""
        self._kafka, self._topics, self._openers = kafka, topics, openers
        self._consumer: AIOKafkaConsumer | None = None

    async def start(self, offsets: dict[tuple[str, int], int]) -> None:
        # A stored offset beyond a restarted broker's log end falls back to its beginning ("earliest"):
        # whatever that skips is found as a sequence gap and published again by its producer.
        self._consumer = consumer(self._kafka, enable_auto_commit=False, auto_offset_reset="earliest",
                                  client_id=f"{self._kafka.client_id}-audit", max_partition_fetch_bytes=4 * 1024 * 1024)
        with stray_cancellation_as_error():
            await self._consumer.start()
            partitions = await partitions_of(self._consumer, self._topics)
            self._consumer.assign(partitions)
            for tp in partitions:
                if (tp.topic, tp.partition) in offsets:
                    self._consumer.seek(tp, offsets[(tp.topic, tp.partition)])
                else:
                    await self._consumer.seek_to_beginning(tp)

    async def poll(self, max_records: int, timeout_ms: int
                   ) -> tuple[list[Event], list[Watermark], dict[tuple[str, int], int]]:
        """Events, watermarks, and the offset to continue from on each partition read."""
        assert self._consumer is not None
        with stray_cancellation_as_error():  # the sequencer starts over on an error, and ends on a cancellation
            batch: dict[TopicPartition, list] = await self._consumer.getmany(timeout_ms=timeout_ms,
                                                                              max_records=max_records)
        envelopes, offsets = [], {}
        for tp, records in batch.items():
            envelopes += [e for e in map(envelope_of, (r.value for r in records)) if e is not None]
            if records:
                offsets[(tp.topic, tp.partition)] = records[-1].offset + 1
        await self._open(envelopes)
        events, marks = [], []
        for position, decoded in enumerate(map(decode, envelopes)):
            if isinstance(decoded, Event):
                events.append(decoded)
            elif isinstance(decoded, Watermark):
                marks.append(decoded)
            if position % DECODED_BETWEEN_YIELDS == DECODED_BETWEEN_YIELDS - 1:
                await asyncio.sleep(0)
        return events, marks, offsets

    async def _open(self, envelopes: list[envelope_pb2.EventEnvelope]) -> None:
        sealed: dict[str, list[envelope_pb2.EventEnvelope]] = defaultdict(list)
        for envelope in envelopes:
            if envelope.sealed and envelope.producer in self._openers:
                sealed[envelope.producer].append(envelope)
        for producer, theirs in sealed.items():
            await self._openers[producer].open(theirs)

    async def stop(self) -> None:
        if self._consumer is not None:
            try:
                await stop_consumer(self._consumer)
            except KafkaError:
                pass
            self._consumer = None
