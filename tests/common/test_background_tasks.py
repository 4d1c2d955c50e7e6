"""A service's background task (its relay, a consumer, a sweep) that ends on an error or a
cancellation the service did not ask for is logged as an error naming it; the service's own stop
ends them all without a word."""

import asyncio

from structlog.testing import capture_logs

from services.common.runtime import ServiceRuntime


async def _fails() -> None:
    raise LookupError("the broker forgot the topic")


def _ended(logs: list[dict]) -> list[tuple[str, str]]:
    return [(e["task"], e["error"]) for e in logs if e["event"].startswith("a background task ended")]


async def test_a_part_that_ends_by_itself_is_logged_and_a_stop_is_not():
    runtime = ServiceRuntime("test", "services.common")
    with capture_logs() as logs:
        runtime.spawn(_fails(), "relay")
        runtime.spawn(asyncio.sleep(60), "consumer")
        runtime.spawn(asyncio.sleep(60), "sweep")
        await asyncio.sleep(0.05)
        runtime._tasks[1].cancel()  # as aiokafka's own CancelledError would end it
        await asyncio.sleep(0.05)
        before_stop = _ended(logs)
        await runtime.stop()

    assert before_stop == [("relay", "LookupError('the broker forgot the topic')"), ("consumer", "cancelled")]
    assert _ended(logs) == before_stop  # "sweep" ended with the stop: nothing said
