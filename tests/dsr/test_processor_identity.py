"""A processor is its authenticated identity: a client registers and changes only itself, for
purposes its policy grants; it is sent only its own tasks, on its own topic; an answer counts only
from the processor the task went to; and only an operator may deregister one, whose open tasks then
fail with the reason."""

import asyncio

import grpc
import pytest
from aiokafka import AIOKafkaProducer

from consentry.dsr.v1 import dsr_admin_pb2 as admin_pb
from consentry.dsr.v1 import dsr_pb2 as pb
from consentry.dsr.v1.tasks_pb2 import DsrTask, DsrTaskResult
from consentry_client import error_info
from services.common.topics import results_from, tasks_for
from tests.dsr.test_processors import completed, deletion_while_down, enrolled, register, started
from tests.dsr.test_requests import settled
from tests.keyvault.test_data_keys import refused
from tests.support import topic_messages, unique

pytestmark = pytest.mark.parametrize("backend", ["wrapped"], indirect=True, scope="session")
EVERYTHING = [pb.CAPABILITY_ACCESS, pb.CAPABILITY_DELETE, pb.CAPABILITY_CORRECT]


async def processors_of(operator) -> dict[str, pb.Processor]:
    return {p.name: p for p in (await operator.ListProcessors(pb.ListProcessorsRequest())).processors}


async def test_a_client_registers_only_itself_and_only_for_purposes_it_is_granted(dsr, operator, face_gates,
                                                                                   backend):
    await register(dsr, ["door-access"], names=["door-a"])
    before = await processors_of(operator)

    impostor = await refused(dsr("door-b").RegisterProcessor, pb.RegisterProcessorRequest(
        name="door-a", capabilities=[pb.CAPABILITY_ACCESS]))
    shadow = await refused(dsr("face-app").RegisterProcessor, pb.RegisterProcessorRequest(
        capabilities=[pb.CAPABILITY_DELETE], purpose_ids=["bank-liveness"]))

    assert (impostor.code(), error_info(impostor).reason) == (grpc.StatusCode.PERMISSION_DENIED,
                                                              "PROCESSOR_NOT_CALLER")
    assert (shadow.code(), error_info(shadow).reason) == (grpc.StatusCode.PERMISSION_DENIED, "PURPOSE_NOT_GRANTED")
    after = await processors_of(operator)
    assert after["door-a"] == before["door-a"] and "face-app" not in after


async def test_each_processor_is_sent_only_its_own_tasks_on_its_own_topic(admin, gate, dsr, operator, kafka,
                                                                          face_gates, backend):
    gates, _ = face_gates
    subject, [purpose] = await enrolled(admin, gate, gates)
    await register(dsr, [purpose])

    done = await completed(operator, subject, pb.REQUEST_TYPE_DELETION)

    tasks = {t.processor: t.task_id for t in done.tasks}
    assert set(tasks) == {"door-a", "door-b"}
    for name, task_id in tasks.items():
        on_its_topic = await topic_messages(kafka, tasks_for(name), DsrTask,
                                            lambda m, r=done.request_id: m.request_id == r)
        assert {(m.task_id, m.processor) for m in on_its_topic} == {(task_id, name)}  # re-sent or not


async def test_an_answer_from_another_processor_does_not_settle_a_task(admin, gate, dsr, operator, kafka,
                                                                       face_gates, dev_ca, backend):
    gates, _ = face_gates
    async with deletion_while_down(admin, gate, dsr, operator, face_gates) as (subject, purpose, r):
        door_b_task = await task_of(operator, r.request_id, "door-b")
        await settled_task(operator, r.request_id, "door-a")  # dsr reads door-a's results topic
        # door-a, with its own credential, claims door-b's task done, on its own results topic and in
        # the partition of its genuine answer, which dsr has just read.
        await send_as(kafka, dev_ca, "door-a", results_from("door-a"), DsrTaskResult(
            task_id=door_b_task.task_id, request_id=r.request_id, processor="door-a", ok=True, summary="deleted"),
            key=r.request_id)
        await asyncio.sleep(1.5)  # several of dsr's polls
        waiting = (await operator.GetRequest(pb.GetRequestRequest(request_id=r.request_id))).request
    done = await settled(operator, r.request_id, timeout=60)

    assert {t.processor: t.task_state for t in waiting.tasks}["door-b"] == pb.TASK_STATE_SENT
    assert waiting.status == pb.REQUEST_STATUS_IN_PROGRESS
    assert done.status == pb.REQUEST_STATUS_COMPLETED
    assert await gates["door-b"].store.template(subject, purpose) is None  # door-b did it itself, once back


async def test_only_an_operator_deregisters_and_the_processors_open_tasks_fail_with_the_reason(
        admin, gate, dsr, dsr_admin, operator, face_gates, backend):
    gates, _ = face_gates
    subject, [purpose] = await enrolled(admin, gate, gates)
    await register(dsr, [purpose])
    await dsr("door-z").RegisterProcessor(pb.RegisterProcessorRequest(capabilities=EVERYTHING))  # nobody runs it
    r = await started(operator, subject)
    await task_of(operator, r.request_id, "door-z")

    not_operator = await refused(dsr_admin("door-a").DeregisterProcessor, admin_pb.DeregisterProcessorRequest(
        name="door-z", reason="retired", idempotency_key=unique("idem")))
    gone = await dsr_admin("operator").DeregisterProcessor(admin_pb.DeregisterProcessorRequest(
        name="door-z", reason="the door was removed", idempotency_key=unique("idem")))
    done = await settled(operator, r.request_id, timeout=30)

    assert not_operator.code() == grpc.StatusCode.PERMISSION_DENIED
    assert gone.processor.name == "door-z" and gone.tasks_failed == 1
    assert "door-z" not in await processors_of(operator)
    assert done.status == pb.REQUEST_STATUS_PARTIALLY_COMPLETED
    assert "door-z: processor door-z deregistered: the door was removed" in done.status_reason
    assert {t.processor: t.task_state for t in done.tasks} == {"door-a": pb.TASK_STATE_CONFIRMED,
                                                                "door-b": pb.TASK_STATE_CONFIRMED,
                                                                "door-z": pb.TASK_STATE_FAILED}


async def task_of(operator, request_id: str, processor: str) -> pb.TaskStatus:
    """The request's task for `processor`, once the request went out to processors."""
    async with asyncio.timeout(20):
        while True:
            r = (await operator.GetRequest(pb.GetRequestRequest(request_id=request_id))).request
            found = [t for t in r.tasks if t.processor == processor]
            if found:
                return found[0]
            await asyncio.sleep(0.1)


async def settled_task(operator, request_id: str, processor: str) -> None:
    done = (pb.TASK_STATE_CONFIRMED, pb.TASK_STATE_FAILED)
    async with asyncio.timeout(20):
        while (await task_of(operator, request_id, processor)).task_state not in done:  # noqa: ASYNC110
            await asyncio.sleep(0.1)


async def send_as(kafka, dev_ca, identity: str, topic: str, message, key: str | None = None) -> None:
    producer = AIOKafkaProducer(**kafka.client_options(dev_ca.issue_client(identity)), acks="all")
    await producer.start()
    try:
        await producer.send_and_wait(topic, message.SerializeToString(), key=key.encode() if key else None)
    finally:
        await producer.stop()
