"""GDPR: what the regulation asks of the platform, one test per requirement."""

import grpc
import pytest
from consentry.consent.v1 import consent_pb2 as cpb
from consentry.dsr.v1 import dsr_pb2 as pb
from consentry_client import error_info
from services.common.grpc_errors import field_violations
from google.protobuf.timestamp_pb2 import Timestamp
from services.consent.domain.model import content_hash
from tests.consent.builders import NOTICE_EN, NOTICE_ZH, grant, registered_purpose
from tests.dsr.test_requests import submission
from tests.keyvault.test_data_keys import refused
from tests.legal import requirement
from tests.support import unique
from datetime import UTC, datetime, timedelta
from consentry.keyvault.v1 import keyvault_pb2 as kpb
from services.common.signing import verify_signature
from services.dsr.domain import errors
from services.dsr.domain.model import RequestType
from services.dsr.app import units_of_work
from services.dsr.service.requests import DeadlinePolicy, RequestService, Submission
from tests.audit.test_log import entries_of
from tests.consent.builders import CONTROLLER, check
from tests.dsr.test_start import OPERATOR, once

pytestmark = pytest.mark.parametrize("backend", ["wrapped"], indirect=True, scope="session")


@requirement("GDPR 12(4); PIPL 50", "A refusal gives a reason code, an explanation and a complaint route")
async def test_gdpr_12_4_a_refusal_gives_reasons_and_a_complaint_route(operator, backend):
    r = (await operator.SubmitRequest(submission(unique("subj")))).request

    bare = await refused(operator.RejectRequest, pb.RejectRequestRequest(
        request_id=r.request_id, idempotency_key=unique("idem")))
    rejected = await operator.RejectRequest(pb.RejectRequestRequest(
        request_id=r.request_id, idempotency_key=unique("idem"), reason=pb.RejectionReason(
            code="manifestly-unfounded", explanation="the same request was answered last week",
            complaint_route="Berliner Beauftragte für Datenschutz")))

    assert bare.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert {f for f, _ in field_violations(bare)} == {"reason.code", "reason.explanation", "reason.complaint_route"}
    assert rejected.request.status == pb.REQUEST_STATUS_REJECTED
    assert rejected.request.rejection.complaint_route == "Berliner Beauftragte für Datenschutz"


@requirement("GDPR 8(1)", "A child below the age its member state sets (13 to 16) consents only through a guardian")
async def test_gdpr_8_child_below_the_member_states_age_needs_guardian(admin, gate, backend):
    p = await registered_purpose(admin)

    in_germany = await refused(gate.GrantConsent, grant(unique("teen"), p.purpose_id, subject_age=15, jurisdiction="DE"))
    in_france = await gate.GrantConsent(grant(unique("teen"), p.purpose_id, subject_age=15, jurisdiction="FR"))

    assert (in_germany.code(), error_info(in_germany).reason) == (grpc.StatusCode.FAILED_PRECONDITION,
                                                                  "GUARDIAN_CONSENT_REQUIRED")
    assert error_info(in_germany).metadata["guardian_age"] == "16"
    assert (in_france.consent.state, in_france.consent.actor.kind) == (cpb.CONSENT_STATE_GIVEN, cpb.ACTOR_KIND_SUBJECT)


@requirement("GDPR 12(3)", "A deadline is extended once, inside the first period, with a reason, and the extension is audited")
async def test_gdpr_12_3_a_deadline_is_extended_once_in_time_with_a_reason_and_audited(
        operator, dsr_dpo, dsr_pool, backend):
    subject = unique("subj")
    r = (await operator.SubmitRequest(submission(subject, jurisdiction="FR"))).request
    extend = pb.ExtendDeadlineRequest(request_id=r.request_id, reason="complex: 14 systems hold data",
                                      idempotency_key=unique("idem"))

    no_reason = await refused(operator.ExtendDeadline, pb.ExtendDeadlineRequest(
        request_id=r.request_id, idempotency_key=unique("idem")))
    extended = (await operator.ExtendDeadline(extend)).request
    retried = (await operator.ExtendDeadline(extend)).request
    twice = await refused(operator.ExtendDeadline, pb.ExtendDeadlineRequest(
        request_id=r.request_id, reason="again", idempotency_key=unique("idem")))
    cn = (await operator.SubmitRequest(submission(unique("subj"), jurisdiction="CN"))).request
    no_extension = await refused(operator.ExtendDeadline, pb.ExtendDeadlineRequest(
        request_id=cn.request_id, reason="busy", idempotency_key=unique("idem")))

    assert no_reason.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert [f for f, _ in field_violations(no_reason)] == ["reason"]
    months = extended.due_at.ToDatetime() - r.due_at.ToDatetime()
    assert timedelta(days=59) <= months <= timedelta(days=62) and extended.extended
    assert extended.extension_reason == "complex: 14 systems hold data"
    assert retried.due_at == extended.due_at
    assert twice.code() == no_extension.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "one extension" in twice.details()
    entries = await entries_of(dsr_dpo, subject, kind="dsr.request.extended")
    assert [e["payload"]["dueAt"] for e in entries] == [extended.due_at.ToJsonString()]
    assert entries[0]["payload"]["requestId"] == r.request_id

    # Only inside the first period: a request received five weeks ago can no longer be extended.
    now = datetime.now(UTC)
    clock = [now - timedelta(days=35)]
    requests = RequestService(units_of_work(dsr_pool), DeadlinePolicy(), clock=lambda: clock[0])
    late, in_time = [(await requests.submit(Submission(RequestType.ACCESS, unique("subj"), "FR", "id-check", "desk-7",
                                                                 controller_id=CONTROLLER),
                                            once("SubmitRequest"))).request_id for _ in range(2)]
    await requests.extend(in_time, "complex", once("ExtendDeadline"), OPERATOR)  # still inside its first month then
    clock[0] = now

    with pytest.raises(errors.ExtensionRefused, match="only inside the first period"):
        await requests.extend(late, "complex", once("ExtendDeadline"), OPERATOR)
    assert not (await requests.get(late, OPERATOR)).extended and (await requests.get(in_time, OPERATOR)).extended


@requirement("GDPR 7(3); PIPL 15", "Withdrawal is not retroactive: the grant's history, receipt and earlier key releases stay on record")
async def test_gdpr_7_3_withdrawal_is_not_retroactive(admin, gate, face, dpo, operator, backend):
    purpose, subject = (await registered_purpose(admin)).purpose_id, unique("subj")
    granted = await gate.GrantConsent(grant(subject, purpose))
    await face.GenerateDataKey(kpb.GenerateDataKeyRequest(subject_id=subject, purpose_id=purpose))
    released = await entries_of(dpo, subject, kind="keyvault.key.released")
    receipt_key = await gate.GetReceiptKey(cpb.GetReceiptKeyRequest())

    await gate.WithdrawConsent(cpb.WithdrawConsentRequest(
        subject_id=subject, purpose_id=purpose, actor=cpb.Actor(kind=cpb.ACTOR_KIND_SUBJECT),
        idempotency_key=unique("wd")))
    # The withdrawal goes on to retire the purpose's data keys (dsr and keyvault): wait for it too.
    after = await entries_of(dpo, subject, until=lambda es: "keyvault.generation.retired" in {e["type"] for e in es},
                             timeout=40)
    history = await gate.GetConsentHistory(cpb.GetConsentHistoryRequest(subject_id=subject,
                                                                        purpose_id=purpose))
    answer = await gate.CheckConsent(check(subject, purpose))

    assert answer.decision == cpb.DECISION_DENY  # the withdrawal holds from now on ...
    assert [e.event_type for e in history.events] == [cpb.CONSENT_EVENT_TYPE_GRANTED,  # ... not before
                                                      cpb.CONSENT_EVENT_TYPE_WITHDRAWN]
    assert verify_signature(receipt_key.public_key_pem, granted.receipt.receipt_json, granted.receipt.signature)
    assert len(released) == 1 and released[0] in after


@requirement("GDPR 7(1)", "Every grant, renewal and withdrawal is kept with the notice seen and how it was given, and shown for any past date")
async def test_gdpr_7_1_consent_is_proven_for_any_past_date(admin, gate, backend):
    p = await registered_purpose(admin)
    subject, zh_v2 = unique("subj"), NOTICE_ZH + "（第二版）"
    await gate.GrantConsent(grant(subject, p.purpose_id, evidence_ref="tap-1"))
    await admin.PublishNotice(cpb.PublishNoticeRequest(
        purpose_id=p.purpose_id, material_change=True, idempotency_key=unique("pub"),
        texts=[cpb.PublishNoticeRequest.Text(language="en", text=NOTICE_EN + " (v2)"),
               cpb.PublishNoticeRequest.Text(language="zh-CN", text=zh_v2)]))
    await gate.GrantConsent(grant(subject, p.purpose_id, version=2, text=zh_v2, language="zh-CN",
                                  collection_method=cpb.COLLECTION_METHOD_WEB_FORM, evidence_ref="form-2"))
    await gate.WithdrawConsent(cpb.WithdrawConsentRequest(
        subject_id=subject, purpose_id=p.purpose_id, actor=cpb.Actor(kind=cpb.ACTOR_KIND_SUBJECT),
        collection_method=cpb.COLLECTION_METHOD_KIOSK, evidence_ref="kiosk-7", idempotency_key=unique("wd")))

    events = (await gate.GetConsentHistory(cpb.GetConsentHistoryRequest(subject_id=subject,
                                                                        purpose_id=p.purpose_id))).events
    first, renewal, second, withdrawal = events

    async def at(event: cpb.ConsentEvent, shift: timedelta = timedelta()) -> cpb.GetConsentAsOfResponse:
        moment = event.occurred_at.ToDatetime(UTC) + shift
        return await gate.GetConsentAsOf(cpb.GetConsentAsOfRequest(
            subject_id=subject, purpose_id=p.purpose_id, as_of=Timestamp(seconds=int(moment.timestamp()),
                                                                         nanos=moment.microsecond * 1000)))

    def shown(e: cpb.ConsentEvent) -> tuple:
        return e.event_type, e.notice_version, e.notice_language, e.notice_hash, e.collection_method, e.evidence_ref

    assert [e.event_type for e in events] == [cpb.CONSENT_EVENT_TYPE_GRANTED, cpb.CONSENT_EVENT_TYPE_RENEWAL_REQUIRED,
                                              cpb.CONSENT_EVENT_TYPE_GRANTED, cpb.CONSENT_EVENT_TYPE_WITHDRAWN]
    assert shown(first) == (cpb.CONSENT_EVENT_TYPE_GRANTED, 1, "en", content_hash(NOTICE_EN), cpb.COLLECTION_METHOD_APP_SCREEN, "tap-1")
    assert shown(second) == (cpb.CONSENT_EVENT_TYPE_GRANTED, 2, "zh-CN", content_hash(zh_v2), cpb.COLLECTION_METHOD_WEB_FORM, "form-2")
    assert (withdrawal.collection_method, withdrawal.evidence_ref) == (cpb.COLLECTION_METHOD_KIOSK, "kiosk-7")
    assert renewal.state == cpb.CONSENT_STATE_RENEWAL_REQUIRED and first.expires_at.seconds > 0

    before, given, renewing, regiven, withdrawn = [await at(first, -timedelta(microseconds=1)), await at(first),
                                                   await at(renewal), await at(second), await at(withdrawal)]
    assert before.state == cpb.CONSENT_STATE_UNSPECIFIED and not before.HasField("grant")
    assert (given.state, shown(given.grant)) == (cpb.CONSENT_STATE_GIVEN, shown(first))
    assert (renewing.state, shown(renewing.grant)) == (cpb.CONSENT_STATE_RENEWAL_REQUIRED, shown(first))
    assert (regiven.state, shown(regiven.grant)) == (cpb.CONSENT_STATE_GIVEN, shown(second))
    assert (withdrawn.state, shown(withdrawn.grant), withdrawn.last_event.event_id) == (
        cpb.CONSENT_STATE_WITHDRAWN, shown(second), withdrawal.event_id)
