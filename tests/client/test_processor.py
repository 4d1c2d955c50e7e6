"""A face system's processor receives its DSR tasks from Kafka, handles each task once however often
it is re-sent, ignores other processors' tasks and reports every outcome."""

import asyncio

import pytest
from aiokafka import AIOKafkaProducer

from consentry.dsr.v1.tasks_pb2 import DsrTask
from consentry_client import DsrProcessor, InMemoryTaskJournal, TaskFailed
from tests.client.tasks import ensure_task_topics, publish, results_of, task
from tests.support import unique

# Short enough for quick group joins on Tansu, long enough for heartbeats on a busy test machine.
SESSION_TIMEOUT_MS = 3000


class TemplateStore(DsrProcessor):
    """Deletes nothing real; records each call and fails on the subjects the tests name so."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.handled: list[DsrTask] = []

    async def handle_delete(self, task: DsrTask) -> str:
        self.handled.append(task)
        if task.subject_id.startswith("unknown"):
            raise TaskFailed(f"no templates of {task.subject_id}")
        if task.subject_id.startswith("crash"):
            raise LookupError("template index offline, with a detail that must not leak")
        return "deleted 2 templates"

    async def handle_access(self, task: DsrTask) -> dict:
        if task.subject_id.startswith("slow"):
            await asyncio.sleep(0.2)  # recorded when done: a later task overtaking it would show
        self.handled.append(task)
        return {"subject": task.subject_id, "templates": 2, "enrolled_at": "2026-01-05"}

    def calls(self, sent: DsrTask) -> int:
        return sum(t.task_id == sent.task_id for t in self.handled)


@pytest.fixture(scope="module")
async def processor(kafka):
    await ensure_task_topics(kafka.bootstrap_servers)
    async with TemplateStore(unique("door-app"), kafka.bootstrap_servers, session_timeout_ms=SESSION_TIMEOUT_MS) as store:
        await asyncio.wait_for(store.ready.wait(), 30)  # Tansu's group join takes seconds
        yield store


@pytest.fixture(scope="module")
async def producer(kafka):
    producer = AIOKafkaProducer(bootstrap_servers=kafka.bootstrap_servers, acks="all")
    await producer.start()
    yield producer
    await producer.stop()


async def test_a_delete_task_is_handled_and_reported(processor, producer, kafka):
    sent = task(processor.name)
    await publish(producer, sent)

    [result] = await results_of(kafka.bootstrap_servers, sent.request_id)

    assert (result.task_id, result.processor, result.ok, result.summary) == (
        sent.task_id, processor.name, True, "deleted 2 templates")
    assert processor.calls(sent) == 1


async def test_a_task_sent_three_times_is_handled_once_and_answered_three_times(processor, producer, kafka):
    sent = task(processor.name)
    for attempt in (1, 2, 3):
        sent.attempt = attempt
        await publish(producer, sent)

    results = await results_of(kafka.bootstrap_servers, sent.request_id, count=3)

    assert processor.calls(sent) == 1
    assert len(results) == 3 and results[0] == results[1] == results[2] and results[0].ok


async def test_tasks_for_another_processor_are_ignored(processor, producer, kafka):
    before = task(processor.name)
    foreign = task(unique("bank-liveness"))
    after = task(processor.name)
    # The foreign task sits between two of ours in our partition, so seeing `after` proves it was read.
    ours = await publish(producer, before)
    await publish(producer, foreign, partition=ours.partition)
    await publish(producer, after)

    await results_of(kafka.bootstrap_servers, after.request_id)
    reported = await results_of(kafka.bootstrap_servers, foreign.request_id, count=0)

    assert processor.calls(foreign) == 0 and reported == []
    assert processor.calls(before) == processor.calls(after) == 1


async def test_a_refused_task_is_reported_failed_with_the_reason(processor, producer, kafka):
    sent = task(processor.name, subject_id=unique("unknown"))
    await publish(producer, sent)
    await publish(producer, sent)

    first, again = await results_of(kafka.bootstrap_servers, sent.request_id, count=2)

    assert not first.ok and first.reason == f"no templates of {sent.subject_id}"
    assert first == again and processor.calls(sent) == 1


async def test_an_unexpected_error_is_reported_by_class_name_and_retried_when_re_sent(processor, producer, kafka):
    crashing = task(processor.name, subject_id=unique("crash"))
    following = task(processor.name)
    await publish(producer, crashing)
    await publish(producer, crashing)
    await publish(producer, following)

    crashed = await results_of(kafka.bootstrap_servers, crashing.request_id, count=2)
    [done] = await results_of(kafka.bootstrap_servers, following.request_id)

    assert [(r.ok, r.reason) for r in crashed] == [(False, "LookupError")] * 2
    assert processor.calls(crashing) == 2 and done.ok


async def test_access_returns_the_data_as_json_and_unsupported_actions_fail(processor, producer, kafka):
    access = task(processor.name, action="access")
    correct = task(processor.name, action="correct", corrections={"name": "Li Wei"})
    await publish(producer, access)
    await publish(producer, correct)

    [exported] = await results_of(kafka.bootstrap_servers, access.request_id)
    [refused] = await results_of(kafka.bootstrap_servers, correct.request_id)

    assert exported.ok and b'"templates": 2' in exported.data_json and access.subject_id.encode() in exported.data_json
    assert not refused.ok and refused.reason == f"{processor.name} does not support correct"


async def test_a_restarted_processor_resumes_after_the_tasks_it_already_reported(kafka, producer):
    await ensure_task_topics(kafka.bootstrap_servers)
    name, journal = unique("door-app"), InMemoryTaskJournal()
    earlier, later = task(name), task(name)

    first = TemplateStore(name, kafka.bootstrap_servers, journal=journal, session_timeout_ms=SESSION_TIMEOUT_MS)
    running = asyncio.create_task(first.run())
    await asyncio.wait_for(first.ready.wait(), 30)
    await publish(producer, earlier)
    await results_of(kafka.bootstrap_servers, earlier.request_id)
    running.cancel()
    await asyncio.wait([running])
    async with TemplateStore(name, kafka.bootstrap_servers, journal=journal, session_timeout_ms=SESSION_TIMEOUT_MS) as second:
        await asyncio.wait_for(second.ready.wait(), 30)
        await publish(producer, later)
        await results_of(kafka.bootstrap_servers, later.request_id)

    # A committed offset means the earlier task is neither handled nor reported again.
    assert len(await results_of(kafka.bootstrap_servers, earlier.request_id)) == 1
    assert second.calls(earlier) == 0 and second.calls(later) == 1


class OfflineOnce(InMemoryTaskJournal):
    """A journal whose database is away for the first write."""

    def __init__(self) -> None:
        super().__init__()
        self.outages = 1

    async def put(self, result) -> None:
        if self.outages:
            self.outages -= 1
            raise OSError("journal database unreachable")
        await super().put(result)


async def test_a_batch_whose_journal_write_failed_is_handled_again_and_answered_once(kafka, producer):
    await ensure_task_topics(kafka.bootstrap_servers)
    name = unique("door-app")
    async with TemplateStore(name, kafka.bootstrap_servers, journal=OfflineOnce(),
                             session_timeout_ms=SESSION_TIMEOUT_MS) as store:
        await asyncio.wait_for(store.ready.wait(), 30)
        sent = task(name)
        await publish(producer, sent)

        [result] = await results_of(kafka.bootstrap_servers, sent.request_id)

    assert result.ok and result.task_id == sent.task_id
    assert store.calls(sent) == 2  # handled, not recorded, so handled again: handlers must be idempotent
    assert not store.failed.is_set()


async def test_one_subjects_tasks_are_handled_in_the_order_they_came(processor, producer, kafka):
    subject = unique("slow")
    sent = [task(processor.name, subject_id=subject, action=action) for action in ("access", "delete", "access")]
    others = [task(processor.name) for _ in range(5)]
    for t in (*others[:2], sent[0], *others[2:], sent[1], sent[2]):
        await publish(producer, t)

    for t in (*sent, *others):
        await results_of(kafka.bootstrap_servers, t.request_id)

    mine = [t.task_id for t in processor.handled if t.subject_id == subject]
    assert mine == [t.task_id for t in sent]
