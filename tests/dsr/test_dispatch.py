"""The task dispatcher on its own database and the session's broker: each processor gets its tasks
on its own topic, at most a window of them out on their first attempt; a confirmation lets the next
one go, a task not confirmed in time is sent again and gives up its place, and one never confirmed
fails the request with the reason."""

import asyncio
import os
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from consentry.dsr.v1.tasks_pb2 import DsrTask
from services.common.erasure import SubjectTagger
from services.common.topics import tasks_for
from services.dsr.app import units_of_work
from services.dsr.domain.model import Processor, Request, RequestType, Status, Task, TaskOutcome
from services.dsr.events.task_sender import KafkaTaskSender
from services.dsr.service.dispatcher import TaskDispatcher
from services.dsr.service.forgetting import Forgetting
from services.dsr.service.settlement import Settlement
from services.dsr.store.repository import DsrStore
from tests.support import unique

pytestmark = pytest.mark.parametrize("backend", ["wrapped"], indirect=True, scope="session")
TAGGER = SubjectTagger(os.urandom(32))
SETTLEMENT = Settlement(Forgetting(TAGGER))


@pytest.fixture
async def producer(kafka):
    producer = AIOKafkaProducer(**kafka.client_options(), acks="all")
    await producer.start()
    yield producer
    await producer.stop()


async def pending(dsr_pool, kafka, counts: dict[str, int]) -> list[Task]:
    """One deletion request per task, every task PENDING for the named processor (its topic made),
    each due a moment after the one before (so "oldest first" has one answer)."""
    kafka.create_topics([tasks_for(name) for name in counts])
    now = datetime.now(UTC)
    made = []
    async with dsr_pool.acquire() as conn, conn.transaction():
        store = DsrStore(conn)
        for name, count in counts.items():
            await store.register(Processor(name, frozenset({"delete"}), frozenset({"door-access"})))
            for _ in range(count):
                r = Request(unique("req"), RequestType.DELETION, unique("subj"), "DE", Status.IN_PROGRESS, now,
                            now + timedelta(days=30))
                await store.add(r)
                made.append(Task(unique("task"), r.request_id, name, "delete",
                                 next_attempt_at=now + timedelta(microseconds=len(made))))
        await store.add_tasks(made)
    return made


async def states(dsr_pool) -> Counter[tuple[str, str]]:
    rows = await dsr_pool.fetch("SELECT processor, state FROM tasks")
    return Counter((r["processor"], r["state"]) for r in rows)


async def sent_messages(kafka, processor: str, expected: int) -> list[DsrTask]:
    consumer = AIOKafkaConsumer(tasks_for(processor), **kafka.client_options(), auto_offset_reset="earliest")
    await consumer.start()
    found: list[DsrTask] = []
    try:
        async with asyncio.timeout(15):
            while len(found) < expected:
                for records in (await consumer.getmany(timeout_ms=200)).values():
                    found += [DsrTask.FromString(r.value) for r in records]
    finally:
        await consumer.stop()
    return found


async def test_each_processor_gets_at_most_its_window_on_its_own_topic_and_a_confirmation_frees_a_place(
        dsr_pool, producer, kafka, backend):
    slow, quick = unique("slow-gate"), unique("quick-gate")
    made = await pending(dsr_pool, kafka, {slow: 5, quick: 1})
    dispatcher = TaskDispatcher(units_of_work(dsr_pool), KafkaTaskSender(producer, TAGGER), SETTLEMENT, window=2)

    await dispatcher.send_due()
    first = await states(dsr_pool)
    again = await dispatcher.send_due()  # nothing more may go while the window is full

    assert first == {(slow, "SENT"): 2, (slow, "PENDING"): 3, (quick, "SENT"): 1}
    assert again == 0
    to_slow, to_quick = await sent_messages(kafka, slow, 2), await sent_messages(kafka, quick, 1)
    assert {m.processor for m in to_slow} == {slow} and [m.processor for m in to_quick] == [quick]
    oldest = [t.task_id for t in made if t.processor == slow][:2]
    assert sorted(m.task_id for m in to_slow) == sorted(oldest)

    async with units_of_work(dsr_pool)() as uow:
        assert await SETTLEMENT.settle_tasks(uow, [TaskOutcome(oldest[0], quick, True, "deleted")]) == 0  # not quick's task
        assert await SETTLEMENT.settle_tasks(uow, [TaskOutcome(oldest[0], slow, True, "deleted")]) == 1
        await uow.commit()
    await dispatcher.send_due()

    assert await states(dsr_pool) == {(slow, "CONFIRMED"): 1, (slow, "SENT"): 2, (slow, "PENDING"): 2,
                                      (quick, "SENT"): 1}


async def test_a_task_not_confirmed_in_time_is_sent_again_and_gives_up_its_place(dsr_pool, producer, kafka, backend):
    silent = unique("silent-gate")
    first, second = await pending(dsr_pool, kafka, {silent: 2})
    dispatcher = TaskDispatcher(units_of_work(dsr_pool), KafkaTaskSender(producer, TAGGER), SETTLEMENT, window=1, confirm_timeout_s=0.05)

    await dispatcher.send_due()
    await asyncio.sleep(0.1)
    await dispatcher.send_due()  # the first again; its place was still taken while it was read
    resent = await dsr_pool.fetch("SELECT task_id, state, attempts, reason FROM tasks ORDER BY next_attempt_at")
    await dispatcher.send_due()  # now the second goes out
    after = await dsr_pool.fetch("SELECT task_id, state, attempts FROM tasks ORDER BY task_id")

    assert [(r["task_id"], r["state"], r["attempts"]) for r in resent] == [(second.task_id, "PENDING", 0),
                                                                            (first.task_id, "SENT", 2)]
    assert "re-sent (attempt 2)" in resent[1]["reason"]
    assert {r["task_id"]: (r["state"], r["attempts"]) for r in after} == {first.task_id: ("SENT", 2),
                                                                           second.task_id: ("SENT", 1)}
    messages = await sent_messages(kafka, silent, 3)
    # One subject's tasks share a partition; these are two subjects', so only the set is ordered.
    assert sorted((m.task_id, m.attempt) for m in messages) == sorted(
        [(first.task_id, 1), (first.task_id, 2), (second.task_id, 1)])


async def test_a_task_never_confirmed_fails_after_the_last_attempt_and_its_request_shows_why(dsr_pool, producer, kafka,
                                                                                            backend):
    [task] = await pending(dsr_pool, kafka, {"gone-gate": 1})
    dispatcher = TaskDispatcher(units_of_work(dsr_pool), KafkaTaskSender(producer, TAGGER), SETTLEMENT, max_attempts=2, confirm_timeout_s=0.05)

    for _ in range(3):  # attempt 1, attempt 2 (twice the wait later), then given up
        await dispatcher.send_due()
        await asyncio.sleep(0.15)

    row = await dsr_pool.fetchrow("SELECT state, attempts, reason FROM tasks WHERE task_id = $1", task.task_id)
    assert (row["state"], row["attempts"]) == ("FAILED", 2)
    assert row["reason"] == "no confirmation from gone-gate after 2 attempts"
    async with dsr_pool.acquire() as conn:
        r = await DsrStore(conn).get(task.request_id)
    assert r.status is Status.PARTIALLY_COMPLETED
    assert r.status_reason == "gone-gate: no confirmation from gone-gate after 2 attempts"
