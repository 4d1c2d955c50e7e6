"""Grant, check, withdraw: the enrolment gate answers from committed consent state."""

import json

import grpc
import pytest

from consentry.consent.v1 import consent_pb2 as pb
from services.common.signing import verify_signature
from tests.consent.builders import NOTICE_ZH, check, grant, registered_purpose
from tests.support import read_events, unique
from tests.legal import requirement


async def test_granted_consent_allows_enrolment(admin, gate):
    p = await registered_purpose(admin)
    subject = unique("subj")
    granted = await gate.GrantConsent(grant(subject, p.purpose_id))

    answer = await gate.CheckConsent(check(subject, p.purpose_id))

    assert answer.decision == pb.DECISION_ALLOW
    assert answer.consent_id == granted.consent.consent_id
    assert answer.notice_version == 1
    assert granted.consent.state == pb.CONSENT_STATE_GIVEN


@requirement("PIPL 28, 29; Measures Art. 6; GDPR 9(2)(a)", "Enrolment is blocked without a separate consent for the purpose: no consent is a DENY")
async def test_no_consent_denies_enrolment(admin, gate):
    p = await registered_purpose(admin)
    answer = await gate.CheckConsent(check(unique("subj"), p.purpose_id))
    assert (answer.decision, answer.reason) == (pb.DECISION_DENY, pb.DENY_REASON_NO_CONSENT)


async def test_unknown_purpose_denies(gate):
    answer = await gate.CheckConsent(check(unique("subj"), unique("no-such-purpose")))
    assert (answer.decision, answer.reason) == (pb.DECISION_DENY, pb.DENY_REASON_UNKNOWN_PURPOSE)


async def test_consent_for_one_purpose_does_not_cover_another(admin, gate):
    gate_purpose, bank_purpose = await registered_purpose(admin), await registered_purpose(admin)
    subject = unique("subj")
    await gate.GrantConsent(grant(subject, gate_purpose.purpose_id))

    answer = await gate.CheckConsent(check(subject, bank_purpose.purpose_id))

    assert answer.reason == pb.DENY_REASON_NO_CONSENT


async def test_withdrawn_consent_denies_enrolment_and_is_published(admin, gate, kafka, consent_events):
    p = await registered_purpose(admin)
    subject = unique("subj")
    await gate.GrantConsent(grant(subject, p.purpose_id))

    withdrawn = await gate.WithdrawConsent(pb.WithdrawConsentRequest(
        subject_id=subject, purpose_id=p.purpose_id, actor=pb.Actor(kind=pb.ACTOR_KIND_SUBJECT),
        reason="moved out", idempotency_key=unique("wd")))
    answer = await gate.CheckConsent(check(subject, p.purpose_id))

    assert withdrawn.consent.state == pb.CONSENT_STATE_WITHDRAWN
    assert (answer.decision, answer.reason) == (pb.DECISION_DENY, pb.DENY_REASON_WITHDRAWN)
    events = await read_events(kafka, "consent.events", opener=consent_events,
                               until=lambda evs: any(e.type == "consent.withdrawn" and e.subject_id == subject
                                                     for e in evs))
    mine = [e for e in events if e.subject_id == subject]
    assert [e.type for e in mine] == ["consent.granted", "consent.withdrawn"]
    assert mine[0].sequence < mine[1].sequence
    assert all(e.producer == "consent" and len(e.event_id) == 36 for e in mine)


async def test_grant_after_withdrawal_allows_again_on_the_same_record(admin, gate):
    p = await registered_purpose(admin)
    subject = unique("subj")
    first = await gate.GrantConsent(grant(subject, p.purpose_id))
    await gate.WithdrawConsent(pb.WithdrawConsentRequest(
        subject_id=subject, purpose_id=p.purpose_id, actor=pb.Actor(kind=pb.ACTOR_KIND_SUBJECT),
        idempotency_key=unique("wd")))
    again = await gate.GrantConsent(grant(subject, p.purpose_id))

    history = await gate.GetConsentHistory(pb.GetConsentHistoryRequest(subject_id=subject,
                                                                        purpose_id=p.purpose_id))

    assert again.consent.consent_id == first.consent.consent_id
    assert [e.event_type for e in history.events] == [pb.CONSENT_EVENT_TYPE_GRANTED, pb.CONSENT_EVENT_TYPE_WITHDRAWN,
                                                      pb.CONSENT_EVENT_TYPE_GRANTED]
    assert (await gate.CheckConsent(check(subject, p.purpose_id))).decision == pb.DECISION_ALLOW


async def test_the_answer_counts_the_ends_of_a_consent_which_a_renewed_grant_does_not_change(admin, gate):
    p = await registered_purpose(admin)
    subject = unique("subj")
    await gate.GrantConsent(grant(subject, p.purpose_id))
    first = await gate.CheckConsent(check(subject, p.purpose_id))
    await gate.GrantConsent(grant(subject, p.purpose_id))  # given again while it holds: the same term
    renewed = await gate.CheckConsent(check(subject, p.purpose_id))
    await gate.WithdrawConsent(pb.WithdrawConsentRequest(
        subject_id=subject, purpose_id=p.purpose_id, actor=pb.Actor(kind=pb.ACTOR_KIND_SUBJECT),
        idempotency_key=unique("wd")))
    withdrawn = await gate.CheckConsent(check(subject, p.purpose_id))
    await gate.GrantConsent(grant(subject, p.purpose_id))
    again = await gate.CheckConsent(check(subject, p.purpose_id))

    assert (first.lapses, renewed.lapses, withdrawn.lapses, again.lapses) == (0, 0, 1, 1)
    assert first.consent_id == again.consent_id  # the record id alone cannot tell the terms apart


async def test_withdrawing_twice_is_refused(admin, gate):
    p = await registered_purpose(admin)
    subject = unique("subj")
    await gate.GrantConsent(grant(subject, p.purpose_id))
    request = dict(subject_id=subject, purpose_id=p.purpose_id, actor=pb.Actor(kind=pb.ACTOR_KIND_SUBJECT))
    await gate.WithdrawConsent(pb.WithdrawConsentRequest(**request, idempotency_key=unique("wd")))

    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await gate.WithdrawConsent(pb.WithdrawConsentRequest(**request, idempotency_key=unique("wd")))
    assert refused.value.code() == grpc.StatusCode.FAILED_PRECONDITION


@requirement("ISO/IEC TS 27560; Kantara CR 1.1", "A grant yields a signed receipt with the record's fields and the notice seen")
async def test_receipt_is_signed_and_names_the_notice_seen(admin, gate):
    p = await registered_purpose(admin)
    subject = unique("subj")
    granted = await gate.GrantConsent(grant(subject, p.purpose_id, text=NOTICE_ZH, language="zh-CN",
                                            jurisdiction="CN"))
    key = await gate.GetReceiptKey(pb.GetReceiptKeyRequest())
    receipt = json.loads(granted.receipt.receipt_json)

    assert verify_signature(key.public_key_pem, granted.receipt.receipt_json, granted.receipt.signature)
    tampered = granted.receipt.receipt_json.replace(b'"sensitive":true', b'"sensitive":false')
    assert not verify_signature(key.public_key_pem, tampered, granted.receipt.signature)
    assert granted.receipt.key_id == key.key_id
    assert receipt["piiPrincipalId"] == subject
    assert receipt["notice"] == {"purposeId": p.purpose_id, "version": 1, "language": "zh-CN",
                                 "sha256": granted.consent.notice_hash}
    assert receipt["services"][0]["purposes"][0]["piiCategory"] == ["face_template"]
    assert [(c["piiControllerId"], c["piiController"]) for c in receipt["piiControllers"]] == \
        [("acme-campus", "acme-campus Ltd.")]
    assert receipt["nonFaceAlternative"] == "Badge at the reception desk"
    assert receipt["alternativeOffered"] is True


async def test_batch_check_answers_each_pair_in_order(admin, gate):
    p = await registered_purpose(admin)
    given, never = unique("subj"), unique("subj")
    await gate.GrantConsent(grant(given, p.purpose_id))

    answer = await gate.CheckConsents(pb.CheckConsentsRequest(checks=[
        check(never, p.purpose_id), check(given, p.purpose_id), check(given, unique("other"))]))

    # answered again from the cache, with pairs never asked before between them (read from the store)
    again = await gate.CheckConsents(pb.CheckConsentsRequest(checks=[
        check(given, p.purpose_id), check(unique("subj"), p.purpose_id), check(never, p.purpose_id),
        check(unique("subj"), unique("other")), check(given, p.purpose_id)]))

    assert [(r.decision, r.reason) for r in answer.results] == [
        (pb.DECISION_DENY, pb.DENY_REASON_NO_CONSENT),
        (pb.DECISION_ALLOW, pb.DENY_REASON_UNSPECIFIED),
        (pb.DECISION_DENY, pb.DENY_REASON_UNKNOWN_PURPOSE),
    ]
    assert [(r.decision, r.reason) for r in again.results] == [
        (pb.DECISION_ALLOW, pb.DENY_REASON_UNSPECIFIED),
        (pb.DECISION_DENY, pb.DENY_REASON_NO_CONSENT),
        (pb.DECISION_DENY, pb.DENY_REASON_NO_CONSENT),
        (pb.DECISION_DENY, pb.DENY_REASON_UNKNOWN_PURPOSE),
        (pb.DECISION_ALLOW, pb.DENY_REASON_UNSPECIFIED),
    ]


async def test_list_consents_shows_one_record_per_purpose(admin, gate):
    first, second = await registered_purpose(admin), await registered_purpose(admin)
    subject = unique("subj")
    await gate.GrantConsent(grant(subject, first.purpose_id))
    await gate.GrantConsent(grant(subject, second.purpose_id))
    await gate.GrantConsent(grant(subject, second.purpose_id))

    listed = await gate.ListConsents(pb.ListConsentsRequest(subject_id=subject))

    assert sorted(c.purpose_id for c in listed.consents) == sorted([first.purpose_id, second.purpose_id])
