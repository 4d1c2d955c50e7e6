"""Kafka clients as every service makes them: authenticated over TLS as the settings say, and the
producer with the delivery guarantees the outbox relies on."""

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError, for_code
from aiokafka.helpers import create_ssl_context

# The services stop their consumers, and take aiokafka's stray cancellations, as face systems do.
from consentry_client.kafka import stop_consumer, stray_cancellation_as_error  # noqa: F401
from services.common.settings import KafkaSettings


def client_options(settings: KafkaSettings) -> dict:
    """What every aiokafka client of the service is given: where the broker is and who we are."""
    options: dict = {"bootstrap_servers": settings.bootstrap_servers, "security_protocol": settings.security_protocol}
    if settings.security_protocol.endswith("SSL"):
        options["ssl_context"] = create_ssl_context(
            cafile=str(settings.tls_ca) if settings.tls_ca else None,
            certfile=str(settings.tls_cert) if settings.tls_cert else None,
            keyfile=str(settings.tls_key) if settings.tls_key else None)
    if settings.security_protocol.startswith("SASL"):
        options.update(sasl_mechanism=settings.sasl_mechanism, sasl_plain_username=settings.sasl_username,
                       sasl_plain_password=settings.sasl_password.get_secret_value())
    return options


async def start_producer(settings: KafkaSettings) -> AIOKafkaProducer:
    # acks=all always; idempotence only where the broker supports it (Apache Kafka yes, Tansu no).
    producer = AIOKafkaProducer(
        **client_options(settings),
        acks="all",
        enable_idempotence=settings.idempotent_producer,
        linger_ms=settings.linger_ms,
        request_timeout_ms=settings.request_timeout_ms,
        client_id=settings.client_id,
    )
    await producer.start()
    return producer


def consumer(settings: KafkaSettings, *topics: str, **options) -> AIOKafkaConsumer:
    return AIOKafkaConsumer(*topics, **client_options(settings), **options)


class TopicsRefused(Exception):
    """The broker answered a request to create topics by refusing some of them (for each: why)."""


async def create_missing_topics(admin: AIOKafkaAdminClient, topics: list[str], partitions: int,
                                replication_factor: int) -> list[str]:
    """Creates those of the topics that don't exist and returns their names; one that exists is left as
    it is. The broker answers per topic, not by raising: a refusal (an ACL, too few brokers for the
    replication) would otherwise pass unseen until the first send to that topic."""
    existing = set(await admin.list_topics())
    missing = [NewTopic(t, partitions, replication_factor) for t in dict.fromkeys(topics) if t not in existing]
    if not missing:
        return []
    response = await admin.create_topics(missing)
    answers = {topic: (code, rest[0] if rest else None) for topic, code, *rest in response.topic_errors}
    refused = [f"{topic}: {for_code(code).__name__}{f' ({message})' if message else ''}"
               for topic, (code, message) in answers.items() if code and for_code(code) is not TopicAlreadyExistsError]
    if refused:
        raise TopicsRefused("; ".join(refused))
    return [t.name for t in missing if not answers.get(t.name, (0, None))[0]]


async def ensure_topics(settings: KafkaSettings, topics: list[str], partitions: int = 3) -> None:
    """Creates the topics that are missing, unless topics are managed elsewhere (create_topics off)."""
    if not settings.create_topics:
        return
    admin = AIOKafkaAdminClient(**client_options(settings))
    await admin.start()
    try:
        await create_missing_topics(admin, topics, partitions, 1)
    finally:
        await admin.close()


async def partitions_of(consumer: AIOKafkaConsumer, topics: list[str]) -> list[TopicPartition]:
    """Every partition of the topics, for manual assignment (no consumer-group join and its delay)."""
    await consumer.topics()  # refreshes the cluster metadata
    return [TopicPartition(t, p) for t in topics for p in sorted(consumer.partitions_for_topic(t) or ())]
