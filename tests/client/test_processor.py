"""A face system's processor receives its DSR tasks on its own topic, acts only on the ones dsr
confirms as its own and open, handles each once however often it is re-sent, and reports every
outcome on its own results topic."""

import asyncio

import asyncpg
import pytest
from aiokafka import AIOKafkaProducer

from consentry.dsr.v1.tasks_pb2 import DsrTask
from consentry_client import DsrProcessor, InMemoryTaskJournal, TaskFailed
from consentry_client.sealing import open_result
from services.common.topics import results_from, tasks_for
from tests.client.tasks import DsrPart
from tests.support import secure_channel, unique

pytestmark = pytest.mark.parametrize("backend", ["wrapped"], indirect=True, scope="session")
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


def template_store(name: str, kafka, dev_ca, dsr_app, **options) -> TemplateStore:
    """As the face system itself: its own certificate to the broker and to dsr, its own topics."""
    kafka.create_topics([tasks_for(name), results_from(name)])
    return TemplateStore(name, kafka.client_options(dev_ca.issue_client(name)),
                         secure_channel(dev_ca, dsr_app.port, name), session_timeout_ms=SESSION_TIMEOUT_MS, **options)


@pytest.fixture(scope="module")
async def dsr_part(kafka, postgres, dsr_app):
    pool = await asyncpg.create_pool(postgres.dsn("dsr"), min_size=1, max_size=2)
    producer = AIOKafkaProducer(**kafka.client_options(), acks="all")
    await producer.start()
    yield DsrPart(kafka, pool, producer)
    await producer.stop()
    await pool.close()


@pytest.fixture(scope="module")
async def processor(kafka, dev_ca, dsr_app, backend):
    async with template_store("client-door", kafka, dev_ca, dsr_app) as store:
        await asyncio.wait_for(store.ready.wait(), 30)  # Tansu's group join takes seconds
        yield store


async def test_a_delete_task_is_handled_and_reported(processor, dsr_part, backend):
    sent = await dsr_part.task(processor.name)
    await dsr_part.publish(sent)

    [result] = await dsr_part.results_of(processor.name, sent.request_id)

    assert (result.task_id, result.processor, result.ok, result.summary) == (
        sent.task_id, processor.name, True, "deleted 2 templates")
    assert processor.calls(sent) == 1


async def test_a_task_sent_again_after_its_answer_was_lost_is_answered_from_the_journal(processor, dsr_part, backend):
    sent = await dsr_part.task(processor.name)
    await dsr_part.publish(sent)
    [first] = await dsr_part.results_of(processor.name, sent.request_id)
    await dsr_part.lose_result(sent)
    sent.attempt = 2
    await dsr_part.publish(sent)

    results = await dsr_part.results_of(processor.name, sent.request_id, count=2)

    assert processor.calls(sent) == 1
    assert len(results) == 2 and results[1] == first and first.ok


async def test_a_task_dsr_does_not_confirm_is_not_acted_on(processor, dsr_part, backend):
    before = await dsr_part.task(processor.name)
    forged = await dsr_part.task(processor.name, recorded=False)  # someone else wrote it on our topic
    foreign = await dsr_part.task(unique("bank-liveness"))  # dsr knows it, for another processor
    foreign.processor = processor.name
    after = await dsr_part.task(processor.name)
    # All four in one partition, so seeing `after` answered proves the two between were read.
    ours = await dsr_part.publish(before)
    await dsr_part.publish(forged, partition=ours.partition)
    await dsr_part.publish(foreign, partition=ours.partition)
    await dsr_part.publish(after, partition=ours.partition)

    await dsr_part.results_of(processor.name, after.request_id)
    reported = [await dsr_part.results_of(processor.name, t.request_id, count=0) for t in (forged, foreign)]

    assert processor.calls(forged) == processor.calls(foreign) == 0 and reported == [[], []]
    assert processor.calls(before) == processor.calls(after) == 1


async def test_a_refused_task_is_reported_failed_with_the_reason(processor, dsr_part, backend):
    sent = await dsr_part.task(processor.name, subject_id=unique("unknown"))
    await dsr_part.publish(sent)

    [result] = await dsr_part.results_of(processor.name, sent.request_id)

    assert not result.ok and result.reason == f"no templates of {sent.subject_id}"
    assert processor.calls(sent) == 1


async def test_an_unexpected_error_is_reported_by_class_name_and_tried_again_when_sent_again(processor, dsr_part,
                                                                                           backend):
    crashing = await dsr_part.task(processor.name, subject_id=unique("crash"))
    await dsr_part.publish(crashing)
    [crashed] = await dsr_part.results_of(processor.name, crashing.request_id)
    await dsr_part.lose_result(crashing)
    await dsr_part.publish(crashing)

    again = await dsr_part.results_of(processor.name, crashing.request_id, count=2)

    assert [(r.ok, r.reason) for r in again] == [(False, "LookupError")] * 2 and crashed == again[0]
    assert processor.calls(crashing) == 2  # not remembered: a failure that may pass is tried again


async def test_access_returns_the_data_as_json_and_unsupported_actions_fail(processor, dsr_part, backend):
    access = await dsr_part.task(processor.name, action="access")
    correct = await dsr_part.task(processor.name, action="correct", corrections={"name": "Li Wei"})
    await dsr_part.publish(access)
    await dsr_part.publish(correct)

    [exported] = await dsr_part.results_of(processor.name, access.request_id)
    [refused] = await dsr_part.results_of(processor.name, correct.request_id)

    data = open_result(dsr_part.result_keys[access.task_id], access.task_id, exported.sealed_data)
    assert exported.ok and b'"templates": 2' in data and access.subject_id.encode() in data
    assert access.subject_id.encode() not in exported.SerializeToString()  # on the broker: sealed
    assert not refused.ok and refused.reason == f"{processor.name} does not support correct"


async def test_a_restarted_processor_resumes_after_the_tasks_it_already_reported(kafka, dev_ca, dsr_app, dsr_part,
                                                                                 backend):
    name, journal = "client-door-restart", InMemoryTaskJournal()
    earlier, later = await dsr_part.task(name), await dsr_part.task(name)

    first = template_store(name, kafka, dev_ca, dsr_app, journal=journal)
    running = asyncio.create_task(first.run())
    await asyncio.wait_for(first.ready.wait(), 30)
    await dsr_part.publish(earlier)
    await dsr_part.results_of(name, earlier.request_id)
    running.cancel()
    await asyncio.wait([running])
    async with template_store(name, kafka, dev_ca, dsr_app, journal=journal) as second:
        await asyncio.wait_for(second.ready.wait(), 30)
        await dsr_part.publish(later)
        await dsr_part.results_of(name, later.request_id)

    # A committed offset means the earlier task is neither handled nor reported again.
    assert len(await dsr_part.results_of(name, earlier.request_id)) == 1
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


async def test_a_batch_whose_journal_write_failed_is_handled_again_and_answered_once(kafka, dev_ca, dsr_app,
                                                                                     dsr_part, backend):
    name = "client-door-offline"
    async with template_store(name, kafka, dev_ca, dsr_app, journal=OfflineOnce()) as store:
        await asyncio.wait_for(store.ready.wait(), 30)
        sent = await dsr_part.task(name)
        await dsr_part.publish(sent)

        [result] = await dsr_part.results_of(name, sent.request_id)

    assert result.ok and result.task_id == sent.task_id
    assert store.calls(sent) == 2  # handled, not recorded, so handled again: handlers must be idempotent
    assert not store.failed.is_set()


async def test_a_processor_whose_consuming_ends_other_than_by_stop_says_it_failed(kafka, dev_ca, dsr_app, backend):
    """Its consuming task cancelled by something else than stop(): the processor must not go on looking
    alive while it answers nothing."""
    async with template_store("client-door-cancelled", kafka, dev_ca, dsr_app) as store:
        await asyncio.wait_for(store.ready.wait(), 30)
        assert not store.failed.is_set()
        store._consuming.cancel()
        await asyncio.wait_for(store.failed.wait(), 5)


async def _stray_cancellation(*_, **__) -> None:
    raise asyncio.CancelledError  # as aiokafka raises the cancellation of a fetch it cancelled itself


@pytest.mark.parametrize("how", ["run", "start"])
async def test_a_cancelled_error_of_the_kafka_clients_own_opens_a_new_consumer_and_tasks_go_on(
        kafka, dev_ca, dsr_app, dsr_part, backend, how):
    """Left alone, it would end consuming for good: run()'s task group takes a part that ended cancelled
    for a quiet end, and start()'s task looks cancelled."""
    name = f"client-door-stray-{how}"
    store = template_store(name, kafka, dev_ca, dsr_app)
    running = asyncio.create_task(store.run()) if how == "run" else None
    if running is None:
        await store.start()
    try:
        await asyncio.wait_for(store.ready.wait(), 30)
        first = store._consumer
        first.getmany = _stray_cancellation  # its next read (each waits at most a second)
        sent = await dsr_part.task(name)
        await dsr_part.publish(sent)
        [result] = await dsr_part.results_of(name, sent.request_id)

        assert store._consumer is not first and result.ok and store.calls(sent) == 1
        assert not store.failed.is_set() and (running is None or not running.done())
    finally:
        if running is None:
            await store.stop()
        else:
            running.cancel()
            await asyncio.wait([running])


async def test_a_processor_stopped_by_stop_has_not_failed(kafka, dev_ca, dsr_app, backend):
    async with template_store("client-door-stopped", kafka, dev_ca, dsr_app) as store:
        await asyncio.wait_for(store.ready.wait(), 30)
    await asyncio.sleep(0)  # done callbacks run on the next turn
    assert not store.failed.is_set()


async def test_one_subjects_tasks_are_handled_in_the_order_they_came(processor, dsr_part, backend):
    subject = unique("slow")
    sent = [await dsr_part.task(processor.name, subject_id=subject, action=action)
            for action in ("access", "delete", "access")]
    others = [await dsr_part.task(processor.name) for _ in range(5)]
    for t in (*others[:2], sent[0], *others[2:], sent[1], sent[2]):
        await dsr_part.publish(t)

    for t in (*sent, *others):
        await dsr_part.results_of(processor.name, t.request_id)

    mine = [t.task_id for t in processor.handled if t.subject_id == subject]
    assert mine == [t.task_id for t in sent]
