"""Kafka producer start/stop with the delivery guarantees the outbox relies on."""

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError

from services.common.settings import KafkaSettings


async def start_producer(settings: KafkaSettings) -> AIOKafkaProducer:
    # acks=all always; idempotence only where the broker supports it (Apache Kafka yes, Tansu no).
    producer = AIOKafkaProducer(
        bootstrap_servers=settings.bootstrap_servers,
        acks="all",
        enable_idempotence=settings.idempotent_producer,
        linger_ms=settings.linger_ms,
        request_timeout_ms=settings.request_timeout_ms,
        client_id=settings.client_id,
    )
    await producer.start()
    return producer


async def ensure_topics(settings: KafkaSettings, topics: list[str], partitions: int = 3) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.bootstrap_servers)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        missing = [NewTopic(t, partitions, 1) for t in topics if t not in existing]
        if missing:
            try:
                await admin.create_topics(missing)
            except TopicAlreadyExistsError:
                pass
    finally:
        await admin.close()


async def partitions_of(consumer: AIOKafkaConsumer, topics: list[str]) -> list[TopicPartition]:
    """Every partition of the topics, for manual assignment (no consumer-group join and its delay)."""
    await consumer.topics()  # refreshes the cluster metadata
    return [TopicPartition(t, p) for t in topics for p in sorted(consumer.partitions_for_topic(t) or ())]
