"""The watch hub on a real PostgreSQL: changes reach every subscriber in commit order with the hub's
beats between them, a subscriber that falls behind is ended (never silently skipped), and a closing
hub ends its subscriptions."""

import asyncio

import asyncpg
import pytest

from services.common.watch import Beat, SubscriberTooSlow, WatchHub
from tests.support import unique

CHANNEL = "watch_test"


@pytest.fixture
async def hub(postgres):
    name = unique("watch").replace("-", "_")
    await asyncio.to_thread(postgres.create_database, name)
    pool = await asyncpg.create_pool(postgres.dsn(name), min_size=1, max_size=2)
    hub = WatchHub(postgres.dsn(name), CHANNEL, lambda channel, beat: pool.execute(
        "SELECT pg_notify($1, $2)", channel, beat), heartbeat_s=0.05, queue_limit=20,
                   lag_limit_s=0.5)
    running = asyncio.create_task(hub.run())
    yield hub, pool
    running.cancel()
    await asyncio.gather(running, return_exceptions=True)
    await pool.close()


async def next_beat(changes) -> list:
    seen = []
    async for message in changes:
        if isinstance(message, Beat):
            return seen
        seen.append(message)


async def test_changes_arrive_in_commit_order_before_the_next_beat(hub):
    hub, pool = hub
    with hub.subscribe() as changes:
        async with asyncio.timeout(5):
            await next_beat(changes)  # the listener is live
            async with pool.acquire() as conn, conn.transaction():
                await conn.execute("SELECT pg_notify($1, 'first')", CHANNEL)
                await conn.execute("SELECT pg_notify($1, 'second')", CHANNEL)
            seen = await next_beat(changes)
            while not seen:  # the beat may have been sent before the commit
                seen = await next_beat(changes)

    assert seen == ["first", "second"]


async def test_a_subscriber_that_falls_behind_is_ended(hub):
    hub, pool = hub
    with hub.subscribe() as changes:
        async with asyncio.timeout(5):
            await next_beat(changes)
            for i in range(30):  # more than its queue holds, while it reads nothing
                await pool.execute("SELECT pg_notify($1, $2)", CHANNEL, f"change {i}")
            await asyncio.sleep(0.3)
            with pytest.raises(SubscriberTooSlow):
                async for _ in changes:
                    pass


async def test_a_subscriber_whose_beats_wait_too_long_is_ended(hub):
    hub, _ = hub
    with hub.subscribe() as changes:
        async with asyncio.timeout(5):
            await next_beat(changes)
            await asyncio.sleep(0.6)  # reading nothing: the next beat waits past its lag limit
            with pytest.raises(SubscriberTooSlow):
                async for _ in changes:
                    pass


async def test_a_closing_hub_ends_its_subscriptions_and_refuses_new_ones(hub):
    hub, _ = hub
    with hub.subscribe() as changes:
        async with asyncio.timeout(5):
            await next_beat(changes)
            hub.close()
            rest = [message async for message in changes]
    with hub.subscribe() as late:
        assert [message async for message in late] == []
    assert all(isinstance(message, Beat) for message in rest)
