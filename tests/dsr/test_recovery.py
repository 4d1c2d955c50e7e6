"""Requests complete through failures: a face gate that dies in the middle of a task, and a broker
that is killed (losing every message) and restarted while a request is in progress. This module runs
its own broker, dsr service and gates, since it kills them; consent, keyvault and audit are the
session's."""

import asyncio
import os

import pytest

from consentry.dsr.v1 import dsr_pb2 as pb
from consentry.dsr.v1 import dsr_pb2_grpc
from consentry_client import ConsentGate, TemplateCipher
from examples.face_gate.gate import FaceGate, FaceGateProcessor
from examples.face_gate.store import FaceStore
from consentry_dev.launchers import TansuProcess, broker_tls
from services.dsr.app import DsrApp
from tests.consent.builders import grant, registered_purpose
from tests.dsr.fixtures import dsr_settings
from tests.dsr.fixtures import gate_processor
from tests.dsr.test_processors import register
from tests.dsr.test_requests import settled, submission, verify
from tests.support import Clients, erasure_key, secure_channel, unique

pytestmark = [pytest.mark.slow, pytest.mark.parametrize("backend", ["wrapped"], indirect=True, scope="session")]
TOPICS = ["dsr.events", "consent.events", "outbox.replay-requests"]


class DyingGate(FaceGateProcessor):
    """Deletes, then dies before it can report (the process is gone mid-task) — once."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.died = asyncio.Event()

    async def handle_delete(self, task):
        if not self.died.is_set():
            await super().handle_delete(task)
            self.died.set()
            await asyncio.Event().wait()  # never answers; the test stops this processor
        return await super().handle_delete(task)


@pytest.fixture
async def own_stack(tmp_path, postgres, vault, dev_ca, consent_app, keyvault_app, audit_app):
    database = unique("dsr").replace("-", "_")
    postgres.create_database(database)
    with TansuProcess(tmp_path / "kafka", tls=broker_tls(dev_ca)).start() as broker:
        app = DsrApp(dsr_settings(tmp_path, dev_ca, postgres.dsn(database), broker,
                                  {"consent": consent_app.port, "keyvault": keyvault_app.port,
                                   "audit": audit_app.port}, erasure=erasure_key(vault, "dsr")))
        await app.start()
        clients = Clients(dev_ca, app.port, dsr_pb2_grpc.DsrServiceStub)
        channels = [secure_channel(dev_ca, consent_app.port, "face-app"),
                    secure_channel(dev_ca, keyvault_app.port, "face-app")]
        gate_db = unique("gate").replace("-", "_")
        postgres.create_database(gate_db)
        store = await FaceStore.open(postgres.dsn(gate_db))
        face_gate = FaceGate(store, ConsentGate(channels[0]), TemplateCipher(channels[1]))
        try:
            yield broker, clients, face_gate, app.port
        finally:
            await store.close()
            for channel in channels:
                await channel.close()
            await clients.close()
            await app.stop()


async def test_a_gate_dying_mid_task_and_a_broker_restart_still_end_in_completion(admin, gate, own_stack, dev_ca,
                                                                                  backend):
    broker, dsr, face_gate, dsr_port = own_stack
    operator = dsr("operator")
    purpose = (await registered_purpose(admin)).purpose_id
    subjects = [unique("subj") for _ in range(3)]
    for subject in subjects:
        await gate.GrantConsent(grant(subject, purpose))
        await face_gate.enrol(subject, purpose, os.urandom(128))
    await register(dsr, [purpose], names=["door-z"])

    dying = gate_processor("door-z", broker, dev_ca, dsr_port, face_gate.store, session_timeout_ms=3000,
                           kind=DyingGate)
    await dying.start()
    first = (await operator.SubmitRequest(submission(subjects[0]))).request
    await operator.VerifyIdentity(verify(first.request_id))
    await asyncio.wait_for(dying.died.wait(), 30)
    await dying.stop()  # the gate is gone with the task unanswered

    rest = [(await operator.SubmitRequest(submission(s))).request for s in subjects[1:]]
    for r in rest:
        await operator.VerifyIdentity(verify(r.request_id))
    broker.kill()  # every task and result in flight is lost with it
    broker.restart()
    broker.create_topics([*TOPICS, "dsr.tasks.door-z", "dsr.task-results.door-z"])
    revived = gate_processor("door-z", broker, dev_ca, dsr_port, face_gate.store, session_timeout_ms=3000)
    await revived.start()
    try:
        done = [await settled(operator, r.request_id, timeout=90) for r in (first, *rest)]
    finally:
        await revived.stop()

    assert [r.status for r in done] == [pb.REQUEST_STATUS_COMPLETED] * 3
    assert all(r.tasks[0].attempts >= 2 for r in done[:1])
    for subject in subjects:
        assert await face_gate.store.template(subject, purpose) is None
