"""Bad input gets INVALID_ARGUMENT naming each field and rule, and changes nothing."""

import datetime

import grpc
import pytest

from consentry.consent.v1 import consent_pb2 as pb
from services.common.grpc_errors import field_violations
from tests.consent.builders import grant, purpose, registered_purpose
from tests.support import unique


async def invalid(call, request) -> list[tuple[str, str]]:
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await call(request)
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    return field_violations(refused.value)


async def test_grant_names_every_bad_field_and_stores_nothing(admin, gate):
    p = await registered_purpose(admin)
    subject = unique("subj")
    request = grant(subject, p.purpose_id, notice_hash="not-a-hash", subject_age=0, jurisdiction="china",
                    collection_method=pb.COLLECTION_METHOD_UNSPECIFIED, idempotency_key="")

    violations = await invalid(gate.GrantConsent, request)

    assert set(violations) == {
        ("notice_hash", "string.pattern"), ("subject_age", "uint32.range"), ("jurisdiction", "string.pattern"),
        ("collection_method", "enum.defined_only"), ("idempotency_key", "required"),
    }
    assert not (await gate.ListConsents(pb.ListConsentsRequest(subject_id=subject))).consents


async def test_guardian_without_verification_is_invalid(admin, gate):
    p = await registered_purpose(admin)
    actor = pb.Actor(kind=pb.ACTOR_KIND_GUARDIAN, guardian_id="parent-1")

    violations = await invalid(gate.GrantConsent, grant(unique("child"), p.purpose_id, subject_age=8, actor=actor))

    assert violations == [("actor.guardian_verification_ref", "required")]


@pytest.mark.parametrize("subject_id, rule", [("", "required"), ("x" * 129, "string.pattern"),
                                              ("drop table;", "string.pattern")])
async def test_check_rejects_malformed_subject_ids(gate, subject_id, rule):
    violations = await invalid(gate.CheckConsent, pb.CheckConsentRequest(subject_id=subject_id, purpose_id="p-1"))
    assert violations == [("subject_id", rule)]


async def test_batch_check_limits_and_names_the_bad_item(gate):
    good = pb.CheckConsentRequest(subject_id="s-1", purpose_id="p-1")
    bad = pb.CheckConsentRequest(subject_id="s 2", purpose_id="p-1")

    assert await invalid(gate.CheckConsents, pb.CheckConsentsRequest()) == [("checks", "repeated.items")]
    assert await invalid(gate.CheckConsents, pb.CheckConsentsRequest(checks=[good, bad])) == [
        ("checks[1].subject_id", "string.pattern")]


async def test_purpose_registration_validates_and_stores_nothing(admin):
    bad = purpose(data_categories=[], storage_location=pb.STORAGE_LOCATION_UNSPECIFIED, non_face_alternative="",
                  retention=datetime.timedelta(0))

    violations = await invalid(admin.RegisterPurpose, pb.RegisterPurposeRequest(purpose=bad,
                                                                                idempotency_key=unique("r")))

    assert set(violations) == {
        ("purpose.data_categories", "repeated.min_items"), ("purpose.storage_location", "enum.defined_only"),
        ("purpose.non_face_alternative", "required"), ("purpose.retention", "duration.range"),
    }
    with pytest.raises(grpc.aio.AioRpcError) as missing:
        await admin.GetPurpose(pb.GetPurposeRequest(purpose_id=bad.purpose_id))
    assert missing.value.code() == grpc.StatusCode.NOT_FOUND


async def test_notice_languages_must_be_tags_and_unique(admin):
    p = await registered_purpose(admin)
    text = pb.PublishNoticeRequest.Text

    violations = await invalid(admin.PublishNotice, pb.PublishNoticeRequest(
        purpose_id=p.purpose_id, idempotency_key=unique("pub"),
        texts=[text(language="en", text="a"), text(language="en", text="b"), text(language="english!", text="c")]))

    assert set(violations) == {("texts[2].language", "string.pattern"), ("texts", "repeated.unique")}
    assert (await admin.GetPurpose(pb.GetPurposeRequest(purpose_id=p.purpose_id))).purpose.current_notice_version == 1


async def test_registering_a_taken_purpose_id_is_a_conflict(admin):
    p = await registered_purpose(admin)
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await admin.RegisterPurpose(pb.RegisterPurposeRequest(purpose=p, idempotency_key=unique("r")))
    assert refused.value.code() == grpc.StatusCode.ALREADY_EXISTS
