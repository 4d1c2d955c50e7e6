"""A Kafka consumer stops cleanly even when a fetch of its failed just before: aiokafka's own stop
then re-raises the cancellation of that fetch's retry wait (aio-libs/aiokafka#647) and leaves its
connections open."""

import asyncio

import pytest
from aiokafka import AIOKafkaConsumer

from consentry_client.kafka import close_what_stop_skipped, stop_consumer
from tests.support import unique

# A fetch that failed waits this long before its next try: the stop surely comes while it waits.
RETRY_BACKOFF_MS = 10_000


async def consumer_whose_fetch_just_failed(kafka, **options) -> AIOKafkaConsumer:
    topic = unique("stopping")
    kafka.create_topics([topic])
    consumer = AIOKafkaConsumer(topic, **kafka.client_options(), retry_backoff_ms=RETRY_BACKOFF_MS,
                                fetch_max_wait_ms=5_000, **options)
    await consumer.start()

    def fetching() -> bool:
        return any(task.get_coro().__name__ == "_proc_fetch_request" for task in consumer._fetcher._pending_tasks)

    async with asyncio.timeout(30):
        while not fetching():  # noqa: ASYNC110 - the library's own tasks, no event to wait on
            await asyncio.sleep(0.05)  # until a fetch waits at the broker for records
    for connection in list(consumer._client._conns.values()):
        connection.close()  # the fetch under way fails, as when the broker drops the connection
    await asyncio.sleep(0.2)
    assert any(not task.done() for task in consumer._fetcher._pending_tasks), "no fetch waits to try again"
    return consumer


def open_parts(consumer: AIOKafkaConsumer) -> list:
    """What still runs of it: connections, the metadata task, fetches."""
    client, fetcher = consumer._client, consumer._fetcher
    tasks = [client._sync_task, fetcher._fetch_task, *fetcher._pending_tasks]
    return [c for c in client._conns.values() if c.connected()] + [t for t in tasks if t and not t.done()]


async def test_the_library_alone_fails_to_stop_such_a_consumer(kafka):
    consumer = await consumer_whose_fetch_just_failed(kafka)
    with pytest.raises(asyncio.CancelledError):
        await consumer.stop()
    assert open_parts(consumer), "aiokafka closed everything after all: the workaround is not needed"
    await close_what_stop_skipped(consumer)


async def test_stop_consumer_stops_it_and_closes_its_connections(kafka):
    consumer = await consumer_whose_fetch_just_failed(kafka)
    await stop_consumer(consumer)
    assert not open_parts(consumer)
    assert asyncio.current_task().cancelling() == 0


async def test_a_real_cancellation_during_the_stop_propagates_and_still_ends_everything(kafka):
    """Cancelled at its first wait (leaving its consumer group), aiokafka's stop would leave the fetcher
    running, and it would open connections again."""
    consumer = await consumer_whose_fetch_just_failed(kafka, group_id=unique("stopping-group"))
    stopping = asyncio.create_task(stop_consumer(consumer))
    await asyncio.sleep(0)
    stopping.cancel()
    with pytest.raises(asyncio.CancelledError):
        await stopping
    assert not open_parts(consumer)


async def test_stopping_in_a_finally_of_a_task_being_cancelled_ends_everything_and_it_stays_cancelled(kafka):
    consumer = await consumer_whose_fetch_just_failed(kafka)

    cleaned_up_after = []

    async def reading() -> None:
        try:
            await asyncio.sleep(3600)
        finally:
            await stop_consumer(consumer)
            cleaned_up_after.append(True)  # the rest of the clean-up (a producer's stop) still runs

    task = asyncio.create_task(reading())
    await asyncio.sleep(0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert not open_parts(consumer)
    assert cleaned_up_after
