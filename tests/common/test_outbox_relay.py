"""The outbox relay against a real PostgreSQL and broker: it numbers what was committed, sends it,
and while idle writes nothing (a relay polls twice a second in every service, for as long as it runs)."""

import uuid

import pytest

from services.common.erasure import SubjectTagger
from services.common.event_keys import EventKeys
from services.common.kafka import start_producer
from services.common.outbox import OutboxRelay
from tests.support import kafka_settings, unique

COUNTER = "SELECT xmin::text, last_value FROM outbox_sequence"


@pytest.fixture
async def relay(dsr_pool, kafka, dev_ca):
    producer = await start_producer(kafka_settings(kafka, dev_ca, "dsr"))
    try:
        yield OutboxRelay(dsr_pool, producer, EventKeys(SubjectTagger(b"k" * 32)), topic=unique("outbox-relay"),
                          producer_name="dsr")
    finally:
        await producer.stop()


async def test_an_idle_relay_writes_nothing(relay, dsr_pool):
    await dsr_pool.execute(
        "INSERT INTO outbox (event_id, event_type, payload_type, payload, occurred_at)"
        " VALUES ($1, 'test.event', 'test.Payload', '', now())", uuid.uuid4())
    async with dsr_pool.acquire() as conn:
        before = await conn.fetchrow(COUNTER)
        assert await relay.publish_once(conn) == 1
        numbered = await conn.fetchrow(COUNTER)
        assert numbered["last_value"] == before["last_value"] + 1 and numbered["xmin"] != before["xmin"]

        assert await relay.publish_once(conn) == 0
        assert await relay.publish_once(conn) == 0
        assert await conn.fetchrow(COUNTER) == numbered  # the same row version: not rewritten
