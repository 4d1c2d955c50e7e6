"""The unit of work on a real PostgreSQL (a migrated dsr database): an idempotent use case's answer
commits with its change and its events, whether or not it emitted any, and a retry gets it back
without doing the work again; work that fails stores nothing and leaves the key free."""

from datetime import UTC, datetime

import pytest
from google.protobuf import wrappers_pb2

from services.common.idempotency import Idempotent, IdempotencyKey, IdempotencyKeyReused, IdempotencyScope, Replayed
from services.common.outbox import PendingEvent
from services.common.uow import UnitsOfWork
from tests.support import unique


def _idem(key: str) -> Idempotent[str]:
    return Idempotent(IdempotencyKey.of(IdempotencyScope("client", "Method", key), b"request"), str.encode)


async def _answer(pool, key: str) -> bytes | None:
    return await pool.fetchval("SELECT response FROM idempotency WHERE idem_key = $1", key)


def _units(pool) -> UnitsOfWork:
    return UnitsOfWork(pool, lambda conn: conn, lambda event_id, text: PendingEvent(
        event_id=event_id, event_type="test.event", subject_id="", payload=wrappers_pb2.StringValue(value=text),
        occurred_at=datetime.now(UTC)))


async def _run(units: UnitsOfWork, idem: Idempotent[str], events: list[str], done: list[str]) -> str | Replayed:
    async def work() -> str:
        done.append(idem.key.scope.key)
        for text in events:
            uow.emit(text)
        return f"answer of {idem.key.scope.key}"

    async with units() as uow:
        result = await uow.once(idem, work)
        await uow.commit()
        return result


async def _events(pool, text: str) -> int:
    return await pool.fetchval("SELECT count(*) FROM outbox WHERE payload = $1",
                               wrappers_pb2.StringValue(value=text).SerializeToString())


@pytest.mark.parametrize("events", [["one event"], []], ids=["with events", "without events"])
async def test_the_answer_commits_with_the_work_and_a_retry_gets_it(dsr_pool, events):
    units, key, done = _units(dsr_pool), unique("key"), []
    marker = [f"{text} {key}" for text in events]

    assert await _run(units, _idem(key), marker, done) == f"answer of {key}"
    assert await _answer(dsr_pool, key) == f"answer of {key}".encode()
    assert [await _events(dsr_pool, text) for text in marker] == [1] * len(marker)

    assert await _run(units, _idem(key), marker, done) == Replayed(f"answer of {key}".encode())
    assert done == [key]  # the retry did no work
    assert [await _events(dsr_pool, text) for text in marker] == [1] * len(marker)


async def test_failed_work_stores_nothing_and_leaves_the_key_free(dsr_pool):
    units, key = _units(dsr_pool), unique("key")

    async def failing() -> str:
        uow.emit(f"never {key}")
        raise LookupError("refused")

    with pytest.raises(LookupError):
        async with units() as uow:
            await uow.once(_idem(key), failing)
            await uow.commit()
    assert await _answer(dsr_pool, key) is None and await _events(dsr_pool, f"never {key}") == 0

    done: list[str] = []
    assert await _run(units, _idem(key), [], done) == f"answer of {key}" and done == [key]


async def test_work_left_without_commit_stores_nothing(dsr_pool):
    units, key, done = _units(dsr_pool), unique("key"), []
    async with units() as uow:
        await uow.once(_idem(key), lambda: _noted(done, key))
        uow.emit(f"never {key}")
    assert await _answer(dsr_pool, key) is None and await _events(dsr_pool, f"never {key}") == 0


async def test_a_second_idempotent_use_case_in_one_unit_is_refused(dsr_pool):
    units, first, second, done = _units(dsr_pool), unique("key"), unique("key"), []
    with pytest.raises(RuntimeError, match="one idempotent use case per unit of work"):
        async with units() as uow:
            await uow.once(_idem(first), lambda: _noted(done, first))
            await uow.once(_idem(second), lambda: _noted(done, second))
    assert done == [first] and await _answer(dsr_pool, first) is None


async def _noted(done: list[str], key: str) -> str:
    done.append(key)
    return f"answer of {key}"


async def test_calls_claimed_together_each_keep_their_own_answer_and_a_released_key_is_free(dsr_pool):
    """A batch in one unit: a key answered before is replayed, one used for another request is refused,
    one released (its work failed) is left free, and the rest store their answers at one commit."""
    units = _units(dsr_pool)
    earlier, other, answered, released, fresh = (unique("key") for _ in range(5))
    await _run(units, _idem(earlier), [], [])
    await _run(units, _idem(other), [], [])
    reused = Idempotent(IdempotencyKey.of(IdempotencyScope("client", "Method", other), b"another request"),
                        str.encode)

    async with units() as uow:
        claims = await uow.claim_each([_idem(earlier), reused, _idem(answered), _idem(released), None, _idem(fresh)])
        uow.answer(_idem(answered), f"answer of {answered}")
        uow.release(_idem(released))
        uow.answer(_idem(fresh), f"answer of {fresh}")
        await uow.commit()

    assert claims[0] == Replayed(f"answer of {earlier}".encode())
    assert isinstance(claims[1], IdempotencyKeyReused)
    assert claims[2:] == [None, None, None, None]
    with pytest.raises(ValueError, match="claimed twice at once"):
        async with units() as uow:
            await uow.claim_each([_idem(fresh), _idem(fresh)])
    assert await _answer(dsr_pool, answered) == f"answer of {answered}".encode()
    assert await _answer(dsr_pool, fresh) == f"answer of {fresh}".encode()
    assert await dsr_pool.fetchval("SELECT count(*) FROM idempotency WHERE idem_key = $1", released) == 0
    done: list[str] = []
    assert await _run(units, _idem(released), [], done) == f"answer of {released}" and done == [released]


async def test_a_claimed_key_neither_answered_nor_released_stops_the_commit(dsr_pool):
    units, left, marker = _units(dsr_pool), unique("key"), unique("never")
    with pytest.raises(RuntimeError, match="neither answered nor released"):
        async with units() as uow:
            await uow.claim_each([_idem(left)])
            uow.emit(marker)
            await uow.commit()
    assert await dsr_pool.fetchval("SELECT count(*) FROM idempotency WHERE idem_key = $1", left) == 0
    assert await _events(dsr_pool, marker) == 0


async def test_each_event_keeps_the_trace_it_was_emitted_under(dsr_pool):
    units, marker = _units(dsr_pool), unique("traced")
    traces = [f"00-{trace:032x}-00f067aa0ba902b7-01" for trace in (1, 2)]
    async with units() as uow:
        for n, trace in enumerate(traces):
            uow.emit(f"{marker} {n}", traceparent=trace)
        await uow.commit()
    stored = [await dsr_pool.fetchval("SELECT traceparent FROM outbox WHERE payload = $1",
                                      wrappers_pb2.StringValue(value=f"{marker} {n}").SerializeToString())
              for n in range(2)]
    assert stored == traces
