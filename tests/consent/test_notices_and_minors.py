"""Versioned notices (PIPL 14) and guardian consent for children (PIPL 31)."""

import grpc
import pytest

from consentry.consent.v1 import consent_pb2 as pb
from tests.consent.builders import NOTICE_EN, check, grant, registered_purpose
from tests.support import unique
from tests.legal import requirement

NOTICE_V2 = NOTICE_EN + " Templates are now also used for the canteen payment terminal."


async def publish(admin, purpose_id: str, text: str, *, material: bool) -> pb.PublishNoticeResponse:
    return await admin.PublishNotice(pb.PublishNoticeRequest(
        purpose_id=purpose_id, material_change=material, idempotency_key=unique("pub"),
        texts=[pb.PublishNoticeRequest.Text(language="en", text=text)]))


@requirement("PIPL 14", "A material change of the notice requires renewal: older consents are denied until renewed")
async def test_material_notice_change_requires_renewal(admin, gate):
    p = await registered_purpose(admin)
    subject = unique("subj")
    await gate.GrantConsent(grant(subject, p.purpose_id))

    published = await publish(admin, p.purpose_id, NOTICE_V2, material=True)
    before_renewal = await gate.CheckConsent(check(subject, p.purpose_id))
    await gate.GrantConsent(grant(subject, p.purpose_id, version=2, text=NOTICE_V2))
    after_renewal = await gate.CheckConsent(check(subject, p.purpose_id))

    assert published.consents_needing_renewal == 1
    assert (before_renewal.decision, before_renewal.reason) == (pb.DECISION_DENY, pb.DENY_REASON_RENEWAL_REQUIRED)
    assert (after_renewal.decision, after_renewal.notice_version) == (pb.DECISION_ALLOW, 2)


async def test_editorial_notice_change_keeps_consents_valid(admin, gate):
    p = await registered_purpose(admin)
    subject = unique("subj")
    await gate.GrantConsent(grant(subject, p.purpose_id))

    published = await publish(admin, p.purpose_id, NOTICE_EN + " (typo fixed)", material=False)

    assert published.consents_needing_renewal == 0
    assert (await gate.CheckConsent(check(subject, p.purpose_id))).decision == pb.DECISION_ALLOW


async def test_grant_against_an_outdated_notice_is_refused(admin, gate):
    p = await registered_purpose(admin)
    await publish(admin, p.purpose_id, NOTICE_V2, material=True)

    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await gate.GrantConsent(grant(unique("subj"), p.purpose_id, version=1))

    assert refused.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "outdated" in refused.value.details()


async def test_grant_with_a_hash_of_another_text_is_refused_and_stores_nothing(admin, gate):
    p = await registered_purpose(admin)
    subject = unique("subj")

    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await gate.GrantConsent(grant(subject, p.purpose_id, text="a notice nobody published"))

    assert refused.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "notice_hash" in refused.value.details()
    assert not (await gate.ListConsents(pb.ListConsentsRequest(subject_id=subject))).consents


async def test_child_alone_cannot_consent(admin, gate):
    p = await registered_purpose(admin)
    child = unique("child")

    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await gate.GrantConsent(grant(child, p.purpose_id, subject_age=12))

    assert refused.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "guardian" in refused.value.details()
    assert (await gate.CheckConsent(check(child, p.purpose_id))).reason == pb.DENY_REASON_NO_CONSENT


async def test_verified_guardian_consents_for_a_child(admin, gate):
    p = await registered_purpose(admin)
    child = unique("child")
    guardian = pb.Actor(kind=pb.ACTOR_KIND_GUARDIAN, guardian_id="parent-77", guardian_verification_ref="kyc-5521")

    granted = await gate.GrantConsent(grant(child, p.purpose_id, subject_age=9, actor=guardian))

    assert granted.consent.actor.guardian_id == "parent-77"
    assert (await gate.CheckConsent(check(child, p.purpose_id))).decision == pb.DECISION_ALLOW


async def test_purpose_can_raise_the_minimum_age(admin, gate):
    p = await registered_purpose(admin, minimum_age=18)

    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await gate.GrantConsent(grant(unique("teen"), p.purpose_id, subject_age=16))

    assert refused.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "under 18" in refused.value.details()
