"""The broker admits a client only with a certificate from the platform's CA: one without a
certificate, with one from another CA, or speaking plaintext, can neither produce nor consume.
(A client with its own certificate, as every service and processor has, can: seen first.)"""

import asyncio

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.errors import KafkaError
from aiokafka.helpers import create_ssl_context
from aiokafka.structs import RecordMetadata

from services.common.kafka import client_options
from services.common.pki import DevCA
from services.common.settings import KafkaSettings
from tests.support import unique


async def produce(options: dict, topic: str) -> RecordMetadata:
    producer = AIOKafkaProducer(**options, acks="all", request_timeout_ms=3000)
    try:
        async with asyncio.timeout(10):
            await producer.start()
            return await producer.send_and_wait(topic, b"withdrawn")
    finally:
        await producer.stop()


async def consume(options: dict, topic: str, at: RecordMetadata) -> bytes:
    consumer = AIOKafkaConsumer(**options, enable_auto_commit=False, request_timeout_ms=3000)
    try:
        async with asyncio.timeout(10):
            await consumer.start()
            consumer.assign([TopicPartition(topic, at.partition)])
            consumer.seek(TopicPartition(topic, at.partition), at.offset)
            return (await consumer.getone()).value
    finally:
        await consumer.stop()


def strangers(kafka, dev_ca: DevCA, tmp_path) -> dict[str, dict]:
    other = DevCA(tmp_path / "other-ca").issue_client("consent")  # even under a service's name
    return {
        "no certificate": {"security_protocol": "SSL", "ssl_context": create_ssl_context(cafile=str(dev_ca.ca.cert))},
        "another CA's certificate": {"security_protocol": "SSL", "ssl_context": create_ssl_context(
            cafile=str(dev_ca.ca.cert), certfile=str(other.cert), keyfile=str(other.key))},
        "plaintext": {"security_protocol": "PLAINTEXT"},
    }


@pytest.mark.parametrize("who", ["no certificate", "another CA's certificate", "plaintext"])
async def test_an_unknown_client_can_neither_produce_nor_consume(kafka, dev_ca, tmp_path, who):
    topic = unique("trust")
    kafka.create_topics([topic])
    service = kafka.client_options(dev_ca.issue_client("consent"))
    sent = await produce(service, topic)
    stranger = {"bootstrap_servers": kafka.bootstrap_servers, **strangers(kafka, dev_ca, tmp_path)[who]}

    with pytest.raises((KafkaError, OSError, TimeoutError)):
        await produce(stranger, topic)
    with pytest.raises((KafkaError, OSError, TimeoutError)):
        await consume(stranger, topic, sent)

    assert await consume(service, topic, sent) == b"withdrawn"  # the one message there: the service's


def test_a_service_without_a_kafka_credential_does_not_start():
    """A missing credential is a start-up error, never a silent fall-back to plaintext."""
    for incomplete in ({}, {"security_protocol": "SASL_SSL", "sasl_username": "consent"}):
        with pytest.raises(ValueError, match="required"):
            KafkaSettings(**incomplete)


def test_a_scram_user_reaches_every_client_over_tls():
    """What the dev broker cannot check (Tansu keeps no SCRAM user), the settings still carry."""
    settings = KafkaSettings(security_protocol="SASL_SSL", sasl_username="consent", sasl_password="s3cret")

    options = client_options(settings)

    assert (options["security_protocol"], options["sasl_mechanism"], options["sasl_plain_username"],
            options["sasl_plain_password"]) == ("SASL_SSL", "SCRAM-SHA-512", "consent", "s3cret")
    assert options["ssl_context"].verify_mode.name == "CERT_REQUIRED"
