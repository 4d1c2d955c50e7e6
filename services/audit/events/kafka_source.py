"""The sequencer's view of Kafka: every partition of the events topics, assigned manually and read
from the offsets stored with the log (so offsets and entries always move together)."""

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import KafkaError

from services.audit.events.decoding import Watermark, decode
from services.audit.domain.entry import Event
from services.common.kafka import consumer, partitions_of
from services.common.settings import KafkaSettings


class KafkaSource:
    def __init__(self, kafka: KafkaSettings, topics: list[str]) -> None:
        self._kafka, self._topics = kafka, topics
        self._consumer: AIOKafkaConsumer | None = None

    async def start(self, offsets: dict[tuple[str, int], int]) -> None:
        # A stored offset beyond a restarted broker's log end falls back to its beginning ("earliest"):
        # whatever that skips is found as a sequence gap and published again by its producer.
        self._consumer = consumer(self._kafka, enable_auto_commit=False, auto_offset_reset="earliest",
                                  client_id=f"{self._kafka.client_id}-audit", max_partition_fetch_bytes=4 * 1024 * 1024)
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
        batch: dict[TopicPartition, list] = await self._consumer.getmany(timeout_ms=timeout_ms,
                                                                          max_records=max_records)
        events, marks, offsets = [], [], {}
        for tp, records in batch.items():
            for record in records:
                decoded = decode(record.value)
                if isinstance(decoded, Event):
                    events.append(decoded)
                elif isinstance(decoded, Watermark):
                    marks.append(decoded)
            if records:
                offsets[(tp.topic, tp.partition)] = records[-1].offset + 1
        return events, marks, offsets

    async def stop(self) -> None:
        if self._consumer is not None:
            try:
                await self._consumer.stop()
            except KafkaError:
                pass
            self._consumer = None
