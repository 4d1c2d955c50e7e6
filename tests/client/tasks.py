"""Playing the DSR service's part on Kafka: publish tasks, read the results processors report."""

import asyncio

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError
from aiokafka.structs import RecordMetadata

from consentry.dsr.v1.tasks_pb2 import DsrTask, DsrTaskResult
from consentry_client.processor import RESULTS_TOPIC, TASKS_TOPIC
from tests.support import unique


async def ensure_task_topics(bootstrap: str) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        missing = {TASKS_TOPIC, RESULTS_TOPIC} - set(await admin.list_topics())
        if missing:
            await admin.create_topics([NewTopic(t, 3, 1) for t in missing])
    except TopicAlreadyExistsError:
        pass
    finally:
        await admin.close()


def task(processor: str, action: str = "delete", subject_id: str | None = None, **fields) -> DsrTask:
    return DsrTask(task_id=unique("task"), request_id=unique("dsr"), processor=processor, action=action,
                   subject_id=subject_id or unique("subj"), attempt=1, **fields)


async def publish(producer: AIOKafkaProducer, sent: DsrTask, partition: int | None = None) -> RecordMetadata:
    return await producer.send_and_wait(TASKS_TOPIC, sent.SerializeToString(), key=sent.processor.encode(),
                                        partition=partition)


async def results_of(bootstrap: str, request_id: str, count: int = 1, timeout: float = 15.0  # noqa: ASYNC109
                     ) -> list[DsrTaskResult]:
    """The request's results: everything on the topic now, and then on until `count` of them arrived."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    found: list[DsrTaskResult] = []
    try:
        await consumer.topics()
        partitions = [TopicPartition(RESULTS_TOPIC, p) for p in sorted(consumer.partitions_for_topic(RESULTS_TOPIC))]
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        end = await consumer.end_offsets(partitions)
        async with asyncio.timeout(timeout):
            while len(found) < count or any([await consumer.position(p) < end[p] for p in partitions]):
                batch = await consumer.getmany(timeout_ms=100)
                for records in batch.values():
                    found += [r for r in map(DsrTaskResult.FromString, (m.value for m in records))
                              if r.request_id == request_id]
    finally:
        await consumer.stop()
    return found
