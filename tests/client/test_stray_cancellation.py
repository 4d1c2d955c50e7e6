"""aiokafka lets out CancelledErrors of its own; around a Kafka client they come out as an error to
retry on (StrayCancellation), while a real cancellation of the task still cancels it."""

import asyncio

import pytest

from consentry_client.kafka import StrayCancellation, stray_cancellation_as_error


async def _fetch_cancelled_by_the_client() -> None:
    raise asyncio.CancelledError  # as aiokafka raises the cancellation of a fetch it cancelled itself


async def test_a_cancelled_error_nothing_asked_for_is_an_error():
    with pytest.raises(StrayCancellation):
        with stray_cancellation_as_error():
            await _fetch_cancelled_by_the_client()


async def test_a_cancellation_of_the_task_is_still_one():
    entered = asyncio.Event()

    async def reading() -> None:
        with stray_cancellation_as_error():
            entered.set()
            await asyncio.sleep(60)

    task = asyncio.create_task(reading())
    await entered.wait()
    task.cancel()
    await asyncio.wait([task])

    assert task.cancelled()
