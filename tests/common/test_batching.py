"""The micro-batcher shares one round trip among the calls in flight and tells each its own fate."""

import asyncio

import pytest

from services.common.batching import MicroBatcher


async def test_calls_arriving_during_a_round_trip_share_the_next_one():
    batches: list[list[int]] = []

    async def double(items: list[int]) -> list[int]:
        batches.append(items)
        await asyncio.sleep(0.01)
        return [i * 2 for i in items]
    batcher = MicroBatcher(double, max_batch=4)

    results = await asyncio.gather(*(batcher.submit(i) for i in range(10)))

    assert results == [i * 2 for i in range(10)]
    assert batches == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]


async def test_one_item_failing_fails_only_that_caller():
    async def check(items: list[int]) -> list[int | Exception]:
        return [ValueError(f"bad {i}") if i == 2 else i for i in items]
    batcher = MicroBatcher(check)

    results = await asyncio.gather(*(batcher.submit(i) for i in range(4)), return_exceptions=True)

    assert results[:2] == [0, 1] and results[3] == 3
    assert isinstance(results[2], ValueError) and str(results[2]) == "bad 2"


async def test_a_failed_round_trip_fails_its_batch_and_the_next_batch_still_runs():
    calls = 0

    async def flaky(items: list[int]) -> list[int]:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise ConnectionError("down")
        return items
    batcher = MicroBatcher(flaky)

    with pytest.raises(ConnectionError):
        await batcher.submit(1)
    assert await batcher.submit(2) == 2


async def test_an_answer_of_the_wrong_length_is_an_error_for_everyone():
    async def short(items: list[int]) -> list[int]:
        return items[:-1]
    batcher = MicroBatcher(short)

    results = await asyncio.gather(batcher.submit(1), batcher.submit(2), return_exceptions=True)

    assert all(isinstance(r, RuntimeError) for r in results)


async def test_calls_sharing_a_key_never_share_a_batch_and_keep_their_order():
    batches: list[list[str]] = []

    async def record(items: list[str]) -> list[str]:
        batches.append(items)
        await asyncio.sleep(0.01)
        return items
    batcher = MicroBatcher(record, keys=lambda item: [item[0]])  # the first letter is the key

    results = await asyncio.gather(*(batcher.submit(i) for i in ["a1", "b1", "a2", "c1", "a3", "b2"]))

    assert results == ["a1", "b1", "a2", "c1", "a3", "b2"]
    assert batches == [["a1", "b1", "c1"], ["a2", "b2"], ["a3"]]


async def test_groups_have_batches_of_their_own_and_one_waiting_holds_up_only_its_group():
    released = asyncio.Event()
    batches: list[list[str]] = []

    async def record(items: list[str]) -> list[str]:
        batches.append(items)
        if items[0].startswith("slow"):
            await released.wait()
        return items
    batcher = MicroBatcher(record, group=lambda item: item.split("-")[0])

    slow = [asyncio.ensure_future(batcher.submit(f"slow-{n}")) for n in range(2)]
    quick = await asyncio.wait_for(asyncio.gather(*(batcher.submit(f"quick-{n}") for n in range(2))), 1)

    assert quick == ["quick-0", "quick-1"] and not any(s.done() for s in slow)
    released.set()
    assert await asyncio.gather(*slow) == ["slow-0", "slow-1"]
    assert batches == [["slow-0", "slow-1"], ["quick-0", "quick-1"]]


@pytest.mark.parametrize(("leaving", "run"), [((2,), [[1], [3], [4]]), ((2, 3), [[1], [4]])],
                         ids=["one of two left", "every one left: no empty batch"])
async def test_calls_whose_callers_left_before_their_batch_began_are_not_run(leaving, run):
    release = asyncio.Event()
    batches: list[list[int]] = []

    async def record(items: list[int]) -> list[int]:
        batches.append(items)
        await release.wait()
        return items
    batcher = MicroBatcher(record)

    first = asyncio.ensure_future(batcher.submit(1))
    await asyncio.sleep(0)  # the first batch begins
    queued = {n: asyncio.ensure_future(batcher.submit(n)) for n in (2, 3)}
    await asyncio.sleep(0)
    for n in leaving:
        queued[n].cancel()
    release.set()

    assert await first == 1
    assert [await call for n, call in queued.items() if n not in leaving] == [n for n in queued if n not in leaving]
    assert await batcher.submit(4) == 4
    assert batches == run
