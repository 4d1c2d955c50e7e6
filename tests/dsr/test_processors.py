"""Requests carried to face systems: two reference face gates (the example built on the client
library, each with its own database) registered as processors on the real broker. Deletion leaves
nothing decryptable anywhere, withdrawal and expiry delete only that purpose, access and portability
show each gate's data about the person and nobody else, correction is applied, and a gate that was
down when its task went out still gets it."""

import asyncio
import contextlib
import json
import os
from datetime import timedelta

import pytest

from consentry.consent.v1 import consent_admin_pb2 as consent_admin_pb
from consentry.consent.v1 import consent_pb2 as cpb
from consentry.dsr.v1 import dsr_pb2 as pb
from consentry.keyvault.v1 import keyvault_pb2 as kpb
from consentry_client import SubjectErased, TemplateRetired
from tests.dsr.fixtures import GATES
from tests.consent.builders import CONTROLLER, check, grant, registered_purpose, time_passes
from tests.dsr.test_requests import settled, submission, verify
from tests.keyvault.test_purpose_generations import generation
from tests.support import unique
from tests.legal import requirement

pytestmark = pytest.mark.parametrize("backend", ["wrapped"], indirect=True, scope="session")


async def register(dsr, purposes: list[str], names=GATES) -> None:
    """Each gate registers itself, as its own client."""
    for name in names:
        await dsr(name).RegisterProcessor(pb.RegisterProcessorRequest(
            name=name, purpose_ids=purposes,
            capabilities=[pb.CAPABILITY_ACCESS, pb.CAPABILITY_DELETE, pb.CAPABILITY_CORRECT]))


async def enrolled(admin, gate, gates, purposes: int = 1) -> tuple[str, list[str]]:
    subject = unique("subj")
    purpose_ids = []
    for _ in range(purposes):
        p = (await registered_purpose(admin)).purpose_id
        await gate.GrantConsent(grant(subject, p))
        purpose_ids.append(p)
        for face_gate in gates.values():
            await face_gate.enrol(subject, p, os.urandom(256), display_name="Ann Example")
    return subject, purpose_ids


async def started(operator, subject: str, kind: int = pb.REQUEST_TYPE_DELETION, **fields) -> pb.Request:
    """A request submitted and verified: from now on it is carried out."""
    r = (await operator.SubmitRequest(submission(subject, kind, **fields))).request
    await operator.VerifyIdentity(verify(r.request_id))
    return r


async def completed(operator, subject: str, kind: int, **fields) -> pb.Request:
    return await settled(operator, (await started(operator, subject, kind, **fields)).request_id, timeout=30)


async def opened_and_completed(operator, subject: str) -> list[pb.Request]:
    """The subject's requests, opened by the system from a consent event, once the first completed."""
    async with asyncio.timeout(30):
        while True:
            found = (await operator.ListRequests(pb.ListRequestsRequest(controller_id=CONTROLLER, subject_id=subject))).requests
            if found and found[0].status == pb.REQUEST_STATUS_COMPLETED:
                return list(found)
            await asyncio.sleep(0.2)


async def test_deletion_leaves_no_decryptable_template_anywhere(admin, gate, dsr, operator, kv_admin, face_gates,
                                                                backend):
    gates, _ = face_gates
    subject, [purpose] = await enrolled(admin, gate, gates)
    await register(dsr, [purpose])
    seized = {name: await g.store.template(subject, purpose) for name, g in gates.items()}  # e.g. a backup

    done = await completed(operator, subject, pb.REQUEST_TYPE_DELETION)

    assert done.status == pb.REQUEST_STATUS_COMPLETED
    assert {t.processor: t.task_state for t in done.tasks} == dict.fromkeys(("door-a", "door-b"),
                                                                           pb.TASK_STATE_CONFIRMED)
    assert json.loads(done.deletion_certificate)["keysDestroyed"]
    key = await kv_admin.GetKeyStatus(kpb.GetKeyStatusRequest(controller_id=CONTROLLER, subject_id=subject))
    assert key.state == kpb.KEY_STATE_SHREDDED  # so no copy opens, whatever consent says
    for name, g in gates.items():
        assert await g.store.template(subject, purpose) is None
        with pytest.raises(SubjectErased):  # said so, whether consent or the shredded key answers first
            await g._cipher.open(subject, purpose, seized[name])


async def test_deleting_two_people_leaves_a_third_enrolled_alike_untouched(admin, gate, dsr, operator, kv_admin,
                                                                          face_gates, backend):
    gates, _ = face_gates
    purpose = (await registered_purpose(admin)).purpose_id
    deleted, control = [unique("subj"), unique("subj")], unique("subj")
    template = os.urandom(256)
    for subject in (*deleted, control):
        await gate.GrantConsent(grant(subject, purpose))
        for face_gate in gates.values():
            await face_gate.enrol(subject, purpose, template, display_name="Ann Example")
    await register(dsr, [purpose])
    seized = {name: await g.store.template(control, purpose) for name, g in gates.items()}  # e.g. a backup
    before = await kv_admin.GetKeyStatus(kpb.GetKeyStatusRequest(controller_id=CONTROLLER, subject_id=control))

    done = await asyncio.gather(*(completed(operator, subject, pb.REQUEST_TYPE_DELETION) for subject in deleted))

    assert [r.status for r in done] == [pb.REQUEST_STATUS_COMPLETED] * 2
    for subject in deleted:
        assert (await kv_admin.GetKeyStatus(kpb.GetKeyStatusRequest(controller_id=CONTROLLER, subject_id=subject))).state == kpb.KEY_STATE_SHREDDED
        assert (await gate.CheckConsent(check(subject, purpose))).decision == cpb.DECISION_DENY
    after = await kv_admin.GetKeyStatus(kpb.GetKeyStatusRequest(controller_id=CONTROLLER, subject_id=control))
    assert (before.state, after.state, after.created_at) == (kpb.KEY_STATE_ACTIVE, kpb.KEY_STATE_ACTIVE,
                                                               before.created_at)
    assert (await gate.CheckConsent(check(control, purpose))).decision == cpb.DECISION_ALLOW
    for name, g in gates.items():
        assert await g.store.template(control, purpose) == seized[name]
        assert await g.matches(control, purpose, template)
        assert await g._cipher.open(control, purpose, seized[name]) == template


@requirement("GDPR 7(3); PIPL 15, 47", "A withdrawal is one call and deletes that purpose's data at every face system, and nothing else")
async def test_withdrawal_deletes_only_that_purposes_data(admin, gate, dsr, operator, face_gates, backend, postgres,
                                                          keyvault_database):
    gates, _ = face_gates
    subject, (withdrawn, kept) = await enrolled(admin, gate, gates, purposes=2)
    await register(dsr, [withdrawn, kept])
    seized = {name: await g.store.template(subject, withdrawn) for name, g in gates.items()}  # e.g. a backup
    assert generation(postgres, keyvault_database, withdrawn) == "1 live"

    await gate.WithdrawConsent(cpb.WithdrawConsentRequest(
        subject_id=subject, purpose_id=withdrawn, actor=cpb.Actor(kind=cpb.ACTOR_KIND_SUBJECT),
        reason="changed my mind", idempotency_key=unique("idem")))
    found = await opened_and_completed(operator, subject)

    assert [(r.type, r.purpose_id) for r in found] == [(pb.REQUEST_TYPE_WITHDRAWAL, withdrawn)]
    # The request destroyed the purpose's key generation itself: no release was tried meanwhile.
    assert generation(postgres, keyvault_database, withdrawn) == "1 retired"
    assert generation(postgres, keyvault_database, kept) == "1 live"
    for g in gates.values():
        assert await g.store.template(subject, withdrawn) is None
        assert await g.store.template(subject, kept) is not None
    await gate.GrantConsent(grant(subject, withdrawn))  # consenting anew brings no old copy back
    for name, g in gates.items():
        with pytest.raises(TemplateRetired):
            await g._cipher.open(subject, withdrawn, seized[name])


async def test_a_gate_drops_a_template_sealed_under_a_consent_that_ended_since(admin, gate, face_gates, backend):
    gates, _ = face_gates
    subject, [purpose] = await enrolled(admin, gate, gates)
    probe = b"not the template"
    g = gates["door-a"]
    matched_before = await g.matches(subject, purpose, probe)
    kept_before = await g.store.template(subject, purpose)
    await gate.WithdrawConsent(cpb.WithdrawConsentRequest(
        subject_id=subject, purpose_id=purpose, actor=cpb.Actor(kind=cpb.ACTOR_KIND_SUBJECT),
        idempotency_key=unique("idem")))
    await gate.GrantConsent(grant(subject, purpose))

    matched_after = await g.matches(subject, purpose, probe)

    assert matched_before is False and matched_after is False  # before: opened and compared, no error
    assert kept_before is not None
    assert await g.store.template(subject, purpose) is None  # to be enrolled anew


async def test_expiry_of_an_illinois_consent_deletes_that_purposes_data_under_the_bipa_deadline(
        admin, gate, dsr, operator, face_gates, postgres, backend, keyvault_database, consent_admin):
    gates, _ = face_gates
    subject = unique("subj")
    expiring = (await registered_purpose(admin, retention=timedelta(hours=1))).purpose_id
    kept = (await registered_purpose(admin)).purpose_id
    for p in (expiring, kept):
        await gate.GrantConsent(grant(subject, p, jurisdiction="US-IL", collection_method=cpb.COLLECTION_METHOD_E_SIGNATURE,
                                      evidence_ref=unique("signed-release")))
        for face_gate in gates.values():
            await face_gate.enrol(subject, p, os.urandom(256))
    await register(dsr, [expiring, kept])

    # The sweep as it runs once the retention has passed.
    await time_passes(postgres, subject, expiring, timedelta(hours=2))
    await consent_admin.ExpireConsents(consent_admin_pb.ExpireConsentsRequest())
    found = await opened_and_completed(operator, subject)

    [r] = found
    assert generation(postgres, keyvault_database, expiring) == "1 retired"
    assert (r.type, r.purpose_id) == (pb.REQUEST_TYPE_WITHDRAWAL, expiring)
    assert r.timeline[0].note == "due under BIPA 15(a)"
    assert r.due_at.ToDatetime() - r.received_at.ToDatetime() == timedelta(days=1)
    for g in gates.values():
        assert await g.store.template(subject, expiring) is None
        assert await g.store.template(subject, kept) is not None


@requirement("GDPR 15(3), 20; PIPL 45", "Access gives a copy in a common machine-readable form (JSON) and a readable page, with every face system's data")
@pytest.mark.parametrize("kind", [pb.REQUEST_TYPE_ACCESS, pb.REQUEST_TYPE_PORTABILITY])
async def test_an_export_holds_the_record_and_each_gates_data_about_the_person_only_in_json_and_two_languages(
        kind, admin, gate, dsr, operator, face_gates, backend):
    gates, _ = face_gates
    subject, [purpose] = await enrolled(admin, gate, gates)
    other, _ = await enrolled(admin, gate, gates)
    await register(dsr, [purpose])

    done = await completed(operator, subject, kind)
    export = await operator.GetExport(pb.GetExportRequest(request_id=done.request_id))

    document = json.loads(export.export_json)
    assert (document["type"], document["subjectId"]) == (pb.RequestType.Name(kind).removeprefix("REQUEST_TYPE_"),
                                                         subject)
    assert [c["purposeId"] for c in document["consentry"]["consents"]] == [purpose]
    assert {name: [t["purposeId"] for t in record["templates"]] for name, record in document["processors"].items()} \
        == dict.fromkeys(GATES, [purpose])
    assert other not in export.export_json.decode()
    assert 'lang="en"' in export.html["en"].decode() and "door-a" in export.html["en"].decode()
    assert "各系统持有的数据" in export.html["zh-CN"].decode() and subject in export.html["zh-CN"].decode()


@requirement("GDPR 16, 19; PIPL 46", "A correction reaches every recipient (the registered face systems), each confirming")
async def test_a_correction_is_applied_by_every_gate(admin, gate, dsr, operator, face_gates, backend):
    gates, _ = face_gates
    subject, [purpose] = await enrolled(admin, gate, gates)
    await register(dsr, [purpose])

    done = await completed(operator, subject, pb.REQUEST_TYPE_CORRECTION, corrections={"display_name": "Ann Exemple"})

    assert done.status == pb.REQUEST_STATUS_COMPLETED
    for g in gates.values():
        assert (await g.store.record_of(subject))["profile"]["display_name"] == "Ann Exemple"


@contextlib.asynccontextmanager
async def deletion_while_down(admin, gate, dsr, operator, face_gates, down: str = "door-b"):
    """A subject enrolled at both gates, whose deletion starts while `down`'s processor is stopped
    (it starts again on leaving): yields the subject, the purpose and the request."""
    gates, processors = face_gates
    subject, [purpose] = await enrolled(admin, gate, gates)
    await register(dsr, [purpose])
    await processors[down].stop()
    try:
        yield subject, purpose, await started(operator, subject)
    finally:
        await processors[down].start()


async def test_a_gate_down_when_its_task_went_out_gets_it_again_later(admin, gate, dsr, operator, face_gates,
                                                                      backend):
    gates, _ = face_gates
    async with deletion_while_down(admin, gate, dsr, operator, face_gates) as (subject, purpose, r):
        async with asyncio.timeout(30):
            while True:  # door-a answers; door-b's task is sent again and again meanwhile
                waiting = (await operator.GetRequest(pb.GetRequestRequest(request_id=r.request_id))).request
                tasks = {t.processor: t for t in waiting.tasks}
                if tasks.get("door-b") and tasks["door-b"].attempts >= 2 and tasks["door-a"].task_state == pb.TASK_STATE_CONFIRMED:
                    break
                await asyncio.sleep(0.2)

    done = await settled(operator, r.request_id, timeout=60)

    assert done.status == pb.REQUEST_STATUS_COMPLETED
    assert "re-sent" in tasks["door-b"].reason and waiting.status == pb.REQUEST_STATUS_IN_PROGRESS
    assert await gates["door-b"].store.template(subject, purpose) is None


async def test_a_task_a_gate_cannot_do_ends_partially_completed_with_its_reason(admin, gate, dsr, operator,
                                                                                face_gates, backend):
    gates, _ = face_gates
    subject, [purpose] = await enrolled(admin, gate, gates)
    await register(dsr, [purpose])

    done = await completed(operator, subject, pb.REQUEST_TYPE_CORRECTION, corrections={"eye_colour": "green"})

    assert done.status == pb.REQUEST_STATUS_PARTIALLY_COMPLETED
    assert {t.task_state for t in done.tasks} == {pb.TASK_STATE_FAILED}
    assert "door-a: nothing correctable" in done.status_reason and "door-b" in done.status_reason
