"""Requests from submission to their end, with Consentry's own part (consents, keys, audit) done
for real: deadlines by jurisdiction, identity verification before anything happens, one request per
idempotency key, rejections that must say why (extensions: tests/legal)."""

import asyncio
import json
from datetime import timedelta

import grpc
import pytest

from consentry.consent.v1 import consent_pb2 as cpb
from consentry.dsr.v1 import dsr_pb2 as pb
from consentry.keyvault.v1 import keyvault_pb2 as kpb
from services.common.grpc_errors import field_violations
from services.common.signing import verify_signature
from services.dsr.api.validation import MAX_PAGE
from tests.consent.builders import CONTROLLER, check
from tests.keyvault.test_data_keys import consented, refused
from tests.support import unique
from tests.legal import requirement

pytestmark = pytest.mark.parametrize("backend", ["wrapped"], indirect=True, scope="session")


def submission(subject: str, kind: int = pb.REQUEST_TYPE_DELETION, jurisdiction: str = "DE",
               **fields) -> pb.SubmitRequestRequest:
    """As an operator (the portal, a DPO's desk) submits it: naming the subject's controller, by
    default the one every test purpose is of."""
    fields.setdefault("controller_id", CONTROLLER)
    return pb.SubmitRequestRequest(type=kind, subject_id=subject, jurisdiction=jurisdiction,
                                   evidence=pb.IdentityEvidence(method="in-person-id-check", reference="desk-7/2291"),
                                   idempotency_key=unique("idem"), **fields)


def verify(request_id: str, verified: bool = True, note: str = "") -> pb.VerifyIdentityRequest:
    return pb.VerifyIdentityRequest(request_id=request_id, verified=verified, note=note,
                                    idempotency_key=unique("idem"))


async def settled(operator, request_id: str, timeout: float = 20.0) -> pb.Request:  # noqa: ASYNC109
    r = None
    try:
        async with asyncio.timeout(timeout):
            while True:
                r = (await operator.GetRequest(pb.GetRequestRequest(request_id=request_id))).request
                if r.status in (pb.REQUEST_STATUS_COMPLETED, pb.REQUEST_STATUS_PARTIALLY_COMPLETED,
                                pb.REQUEST_STATUS_REJECTED):
                    return r
                await asyncio.sleep(0.1)
    except TimeoutError:  # say what it waited for
        tasks = [(t.processor, pb.TaskState.Name(t.task_state)) for t in r.tasks] if r else []
        raise AssertionError(f"request {request_id} not settled in {timeout:g}s: "
                             f"{pb.RequestStatus.Name(r.status) if r else 'never read'}"
                             f" ({r.status_reason if r else ''}), tasks {tasks}") from None


@pytest.mark.parametrize(("jurisdiction", "days"), [("DE", (28, 31)), ("US-CA", (45, 45)), ("CN", (19, 21)),
                                                    ("BR", (30, 30))])
async def test_the_deadline_follows_the_jurisdiction(operator, backend, jurisdiction, days):
    r = (await operator.SubmitRequest(submission(unique("subj"), jurisdiction=jurisdiction))).request

    due = r.due_at.ToDatetime() - r.received_at.ToDatetime()
    assert timedelta(days=days[0]) <= due <= timedelta(days=days[1], seconds=1)
    assert r.status == pb.REQUEST_STATUS_VERIFICATION_PENDING
    assert [t.status for t in r.timeline] == [pb.REQUEST_STATUS_RECEIVED, pb.REQUEST_STATUS_VERIFICATION_PENDING]


async def deleted_with_a_key(admin, gate, face, operator) -> tuple[str, str, pb.Request, pb.Request]:
    """A consenting subject with a data key, deleted through a verified request: the subject, the
    purpose, the request as submitted and as it settled."""
    subject, purpose = await consented(admin, gate)
    await face.GenerateDataKey(kpb.GenerateDataKeyRequest(subject_id=subject, purpose_id=purpose))
    submitted = (await operator.SubmitRequest(submission(subject))).request
    await operator.VerifyIdentity(verify(submitted.request_id))
    return subject, purpose, submitted, await settled(operator, submitted.request_id)


async def test_deletion_erases_consents_and_shreds_the_key_with_a_certificate(
        admin, gate, face, kv_admin, operator, backend):
    subject, purpose, submitted, done = await deleted_with_a_key(admin, gate, face, operator)

    key = await kv_admin.GetKeyStatus(kpb.GetKeyStatusRequest(controller_id=CONTROLLER, subject_id=subject))
    consent = await gate.CheckConsent(check(subject, purpose))
    certificate = json.loads(done.deletion_certificate)
    assert done.status == pb.REQUEST_STATUS_COMPLETED
    assert cpb.DenyReason.Name(consent.reason) == "DENY_REASON_SUBJECT_ERASED"
    assert key.state == kpb.KEY_STATE_SHREDDED and certificate["requestId"] == submitted.request_id
    assert certificate["keysDestroyed"] != []
    assert [t.status for t in done.timeline][-3:] == [pb.REQUEST_STATUS_VERIFIED, pb.REQUEST_STATUS_IN_PROGRESS,
                                                      pb.REQUEST_STATUS_COMPLETED]


async def test_a_completed_deletion_carries_the_certificate_keyvault_signed_and_verifies(
        admin, gate, face, kv_admin, operator, backend):
    subject, purpose, submitted, done = await deleted_with_a_key(admin, gate, face, operator)

    public = (await kv_admin.GetCertificateKey(kpb.GetCertificateKeyRequest())).public_key_pem
    carried = kpb.DeletionCertificate(certificate_json=done.deletion_certificate,
                                      signature=done.deletion_certificate_signature)
    altered = kpb.DeletionCertificate(
        certificate_json=done.deletion_certificate.replace(submitted.request_id.encode(), b"another-request"),
        signature=done.deletion_certificate_signature)

    def checked(certificate: kpb.DeletionCertificate):
        return kv_admin.VerifyCertificate(kpb.VerifyCertificateRequest(controller_id=CONTROLLER, subject_id=subject, certificate=certificate))
    genuine, tampered = await checked(carried), await checked(altered)
    assert done.status == pb.REQUEST_STATUS_COMPLETED and json.loads(done.deletion_certificate)["keysDestroyed"]
    assert verify_signature(public, done.deletion_certificate, done.deletion_certificate_signature)
    assert (genuine.signature_valid, genuine.names_subject) == (True, True)
    assert altered.certificate_json != carried.certificate_json
    assert not verify_signature(public, altered.certificate_json, altered.signature)
    assert not tampered.signature_valid


async def test_deletions_submitted_together_all_complete_each_erasing_its_own_subject_only(
        admin, gate, face, kv_admin, operator, backend):
    people = [await consented(admin, gate) for _ in range(5)]
    control = await consented(admin, gate)
    for subject, purpose in [*people, control]:
        await face.GenerateDataKey(kpb.GenerateDataKeyRequest(subject_id=subject, purpose_id=purpose))

    submitted = await asyncio.gather(*(operator.SubmitRequest(submission(subject)) for subject, _ in people))
    ids = [s.request.request_id for s in submitted]
    await asyncio.gather(*(operator.VerifyIdentity(verify(request_id)) for request_id in ids))
    done = await asyncio.gather(*(settled(operator, request_id, timeout=40) for request_id in ids))

    certificates = [kpb.DeletionCertificate(certificate_json=r.deletion_certificate,
                                            signature=r.deletion_certificate_signature) for r in done]
    names = [[(await kv_admin.VerifyCertificate(kpb.VerifyCertificateRequest(controller_id=CONTROLLER, subject_id=subject, certificate=c)))
              .names_subject for subject, _ in people] for c in certificates]
    destroyed = [{k["keyId"] for k in json.loads(r.deletion_certificate)["keysDestroyed"]} for r in done]
    assert [r.status for r in done] == [pb.REQUEST_STATUS_COMPLETED] * len(people)
    assert [json.loads(r.deletion_certificate)["requestId"] for r in done] == ids
    assert names == [[i == j for j in range(len(people))] for i in range(len(people))]
    assert all(destroyed) and len(set().union(*destroyed)) == sum(map(len, destroyed))
    for subject, purpose in people:
        key = await kv_admin.GetKeyStatus(kpb.GetKeyStatusRequest(controller_id=CONTROLLER, subject_id=subject))
        consent = await gate.CheckConsent(check(subject, purpose))
        assert key.state == kpb.KEY_STATE_SHREDDED
        assert cpb.DenyReason.Name(consent.reason) == "DENY_REASON_SUBJECT_ERASED"
    assert (await kv_admin.GetKeyStatus(kpb.GetKeyStatusRequest(controller_id=CONTROLLER, subject_id=control[0]))).state == kpb.KEY_STATE_ACTIVE
    assert (await gate.CheckConsent(check(*control))).decision == cpb.DECISION_ALLOW


@requirement("GDPR 12(6)", "Nothing is done and no data leaves before the requester's identity is verified")
async def test_nothing_happens_before_the_identity_is_verified(admin, gate, face, kv_admin, operator, backend):
    subject, purpose = await consented(admin, gate)
    await face.GenerateDataKey(kpb.GenerateDataKeyRequest(subject_id=subject, purpose_id=purpose))
    deletion = (await operator.SubmitRequest(submission(subject))).request
    access = (await operator.SubmitRequest(submission(subject, pb.REQUEST_TYPE_ACCESS))).request
    await asyncio.sleep(1.5)  # the orchestrator polls every second

    export = await refused(operator.GetExport, pb.GetExportRequest(request_id=access.request_id))
    refusal = await operator.VerifyIdentity(verify(deletion.request_id, False, "photo does not match"))
    key = await kv_admin.GetKeyStatus(kpb.GetKeyStatusRequest(controller_id=CONTROLLER, subject_id=subject))

    assert export.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert key.state == kpb.KEY_STATE_ACTIVE
    assert refusal.request.status == pb.REQUEST_STATUS_REJECTED
    assert refusal.request.rejection.code == "identity-not-verified" and refusal.request.rejection.complaint_route


async def test_an_access_export_holds_the_subjects_record_and_nobody_elses(admin, gate, face, operator, backend):
    subject, purpose = await consented(admin, gate)
    other, _ = await consented(admin, gate)
    submitted = (await operator.SubmitRequest(submission(subject, pb.REQUEST_TYPE_ACCESS))).request
    await operator.VerifyIdentity(verify(submitted.request_id))
    await settled(operator, submitted.request_id)

    export = await operator.GetExport(pb.GetExportRequest(request_id=submitted.request_id))

    document = json.loads(export.export_json)
    assert [c["purposeId"] for c in document["consentry"]["consents"]] == [purpose]
    assert document["consentry"]["keyStatus"]["subjectId"] == subject
    assert other not in export.export_json.decode()
    assert set(export.html) == {"en", "zh-CN"}  # keyed by BCP 47 language tag
    assert subject in export.html["en"].decode() and "您的同意记录" in export.html["zh-CN"].decode()


async def test_one_idempotency_key_makes_one_request(operator, backend):
    request = submission(unique("subj"))
    first, again = await asyncio.gather(operator.SubmitRequest(request), operator.SubmitRequest(request))
    listed = await operator.ListRequests(pb.ListRequestsRequest(controller_id=CONTROLLER, subject_id=request.subject_id))

    assert first.request.request_id == again.request.request_id
    assert [r.request_id for r in listed.requests] == [first.request.request_id]


async def test_bad_submissions_are_refused_field_by_field(operator, backend):
    bad = pb.SubmitRequestRequest(type=pb.REQUEST_TYPE_WITHDRAWAL, subject_id="not valid", jurisdiction="Germany",
                                  corrections={"name": "x"})

    error = await refused(operator.SubmitRequest, bad)

    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert {f for f, _ in field_violations(error)} >= {"subject_id", "jurisdiction", "evidence.method", "purpose_id",
                                                       "corrections", "idempotency_key"}


@pytest.mark.parametrize("kind", [pb.REQUEST_TYPE_WITHDRAWAL, pb.REQUEST_TYPE_DELETION])
async def test_a_request_for_a_purpose_nobody_defined_is_invalid(operator, backend, kind):
    subject = unique("subj")

    error = await refused(operator.SubmitRequest, submission(subject, kind, purpose_id=unique("no-such-purpose")))

    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert field_violations(error) == [("purpose_id", "purpose.exists")]
    assert not (await operator.ListRequests(pb.ListRequestsRequest(controller_id=CONTROLLER, subject_id=subject))).requests


async def test_a_page_size_above_the_maximum_is_the_maximum_not_an_error(operator, backend):
    subject = unique("subj")
    submitted = [(await operator.SubmitRequest(submission(subject))).request.request_id for _ in range(3)]

    listed = await operator.ListRequests(pb.ListRequestsRequest(controller_id=CONTROLLER, subject_id=subject, page_size=MAX_PAGE * 10))

    assert sorted(r.request_id for r in listed.requests) == sorted(submitted) and not listed.next_page_token


async def test_a_page_token_goes_on_only_with_the_query_it_came_from(operator, backend):
    subject = unique("subj")
    for _ in range(3):
        await operator.SubmitRequest(submission(subject))
    first = await operator.ListRequests(pb.ListRequestsRequest(controller_id=CONTROLLER, subject_id=subject, page_size=2))

    second = await operator.ListRequests(pb.ListRequestsRequest(controller_id=CONTROLLER, subject_id=subject, page_size=2,
                                                                page_token=first.next_page_token))
    elsewhere = await refused(operator.ListRequests, pb.ListRequestsRequest(page_size=2,
                                                                          page_token=first.next_page_token))
    altered = await refused(operator.ListRequests, pb.ListRequestsRequest(
        controller_id=CONTROLLER, subject_id=subject, page_size=2, page_token=first.next_page_token[:-4] + "AAAA"))

    assert len(first.requests) == 2 and len(second.requests) == 1 and not second.next_page_token
    assert field_violations(elsewhere) == field_violations(altered) == [("page_token", "page_token.valid")]
