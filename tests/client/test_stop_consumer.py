"""A Kafka consumer stops cleanly even when a fetch of its failed just before: aiokafka's own stop
then re-raises the cancellation of that fetch's retry wait (aio-libs/aiokafka#647) and leaves its
connections open."""

import asyncio

import pytest
from aiokafka import AIOKafkaConsumer

from consentry_client.kafka import stop_consumer
from tests.support import unique

# A fetch that failed waits this long before its next try: the stop surely comes while it waits.
RETRY_BACKOFF_MS = 10_000


async def consumer_whose_fetch_just_failed(kafka) -> AIOKafkaConsumer:
    topic = unique("stopping")
    kafka.create_topics([topic])
    consumer = AIOKafkaConsumer(topic, **kafka.client_options(), retry_backoff_ms=RETRY_BACKOFF_MS,
                                fetch_max_wait_ms=5_000)
    await consumer.start()
    fetching = lambda: any(task.get_coro().__name__ == "_proc_fetch_request"  # noqa: E731
                           for task in consumer._fetcher._pending_tasks)
    async with asyncio.timeout(30):
        while not fetching():  # noqa: ASYNC110 - the library's own tasks, no event to wait on
            await asyncio.sleep(0.05)  # until a fetch waits at the broker for records
    for connection in list(consumer._client._conns.values()):
        connection.close()  # the fetch under way fails, as when the broker drops the connection
    await asyncio.sleep(0.2)
    return consumer


def open_parts(consumer: AIOKafkaConsumer) -> list:
    client = consumer._client
    return [c for c in client._conns.values() if c.connected()] + [t for t in [client._sync_task] if t and not t.done()]


async def test_the_library_alone_fails_to_stop_such_a_consumer(kafka):
    consumer = await consumer_whose_fetch_just_failed(kafka)
    with pytest.raises(asyncio.CancelledError):
        await consumer.stop()
    assert open_parts(consumer), "aiokafka closed everything after all: the workaround is not needed"
    await consumer._client.close()


async def test_stop_consumer_stops_it_and_closes_its_connections(kafka):
    consumer = await consumer_whose_fetch_just_failed(kafka)
    await stop_consumer(consumer)
    assert not open_parts(consumer)
    assert asyncio.current_task().cancelling() == 0


async def test_a_real_cancellation_during_the_stop_still_propagates(kafka):
    consumer = await consumer_whose_fetch_just_failed(kafka)
    stopping = asyncio.create_task(stop_consumer(consumer))
    await asyncio.sleep(0)
    stopping.cancel()
    with pytest.raises(asyncio.CancelledError):
        await stopping
    await consumer._client.close()
