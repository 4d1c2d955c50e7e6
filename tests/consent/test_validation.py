"""Bad input gets INVALID_ARGUMENT naming each field and rule, and changes nothing."""

import datetime

import grpc
import pytest
from google.protobuf import timestamp_pb2

from consentry.consent.v1 import consent_admin_pb2 as admin_pb
from consentry.consent.v1 import consent_pb2 as pb
from services.common.grpc_errors import field_violations
from tests.consent.builders import CONTROLLER, check, grant, purpose, registered_purpose
from tests.support import secure_channel, unique


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


async def test_a_notice_version_past_any_stored_version_is_invalid(admin, gate):
    p = await registered_purpose(admin)
    subject = unique("subj")

    violations = await invalid(gate.GrantConsent, grant(subject, p.purpose_id, version=2**31))

    assert violations == [("notice_version", "uint32.range")]
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


def _raw_call(channel, method: str):
    """An RPC sent as raw bytes, so a request protobuf would refuse to build still reaches the server."""
    return channel.unary_unary(f"/consentry.consent.v1.ConsentService/{method}", request_serializer=None,
                               response_deserializer=None)


async def test_a_string_that_is_not_utf8_is_invalid_and_names_its_field(consent_app, dev_ca):
    good = grant(unique("subj"), "p-1").SerializeToString()
    not_utf8 = good + b"\x12\x03\xff\xfe\xc3"  # field 2 (purpose_id) again, last one wins: not UTF-8

    async with secure_channel(dev_ca, consent_app.port, "gate-app") as channel:
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await _raw_call(channel, "GrantConsent")(not_utf8)

    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert field_violations(refused.value) == [("purpose_id", "string.utf8")]


@pytest.mark.parametrize("reason", ["changed my mind\x00", "changed\x1bmy mind"])
async def test_a_control_character_in_free_text_is_invalid_and_the_consent_stays(admin, gate, reason):
    p = await registered_purpose(admin)
    subject = unique("subj")
    await gate.GrantConsent(grant(subject, p.purpose_id))

    violations = await invalid(gate.WithdrawConsent, pb.WithdrawConsentRequest(
        subject_id=subject, purpose_id=p.purpose_id, actor=pb.Actor(kind=pb.ACTOR_KIND_SUBJECT), reason=reason,
        idempotency_key=unique("wd")))

    assert violations == [("reason", "string.no_control")]
    assert (await gate.CheckConsent(check(subject, p.purpose_id))).decision == pb.DECISION_ALLOW


async def test_an_id_with_a_trailing_newline_is_not_another_subject(admin, gate):
    p = await registered_purpose(admin)
    subject = unique("demo-tom")
    await gate.GrantConsent(grant(subject, p.purpose_id))

    assert await invalid(gate.CheckConsent, check(subject + "\n", p.purpose_id)) == [("subject_id", "string.pattern")]
    assert await invalid(gate.GrantConsent, grant(subject + "\n", p.purpose_id)) == [("subject_id", "string.pattern")]


async def test_a_retention_past_any_date_is_invalid(admin):
    bad = purpose(retention=datetime.timedelta(seconds=10**12))

    violations = await invalid(admin.RegisterPurpose, pb.RegisterPurposeRequest(purpose=bad,
                                                                                idempotency_key=unique("r")))

    assert violations == [("purpose.retention", "duration.range")]


@pytest.mark.parametrize("seconds, nanos", [(2**40, 0), (-10**12, 0), (1_700_000_000, -1)])
async def test_a_time_outside_the_timestamp_range_is_invalid(admin, gate, seconds, nanos, consent_admin):
    p = await registered_purpose(admin)
    subject = unique("subj")
    await gate.GrantConsent(grant(subject, p.purpose_id))
    at = timestamp_pb2.Timestamp(seconds=seconds, nanos=nanos)

    touched = await invalid(gate.RecordInteraction, pb.RecordInteractionRequest(
        subject_id=subject, purpose_id=p.purpose_id, occurred_at=at))
    swept = await invalid(consent_admin.ExpireConsents, admin_pb.ExpireConsentsRequest(as_of=at))

    assert touched == [("occurred_at", "timestamp.valid")] and swept == [("as_of", "timestamp.valid")]


async def test_erasing_a_subject_answers_when(admin, gate, consent_admin):
    p = await registered_purpose(admin)
    subject = unique("subj")
    await gate.GrantConsent(grant(subject, p.purpose_id))
    before = datetime.datetime.now(datetime.UTC)

    erased = await consent_admin.EraseSubject(admin_pb.EraseSubjectRequest(
        subject_id=subject, request_id=unique("dsr"), controller_id=CONTROLLER,
        idempotency_key=unique("erase")))

    assert erased.consents_erased == 1
    assert before <= erased.erased_at.ToDatetime(datetime.UTC) <= datetime.datetime.now(datetime.UTC)


async def test_a_withdrawal_with_an_unknown_method_is_invalid_and_the_consent_stays(admin, gate):
    p = await registered_purpose(admin)
    subject = unique("subj")
    await gate.GrantConsent(grant(subject, p.purpose_id))

    violations = await invalid(gate.WithdrawConsent, pb.WithdrawConsentRequest(
        subject_id=subject, purpose_id=p.purpose_id, actor=pb.Actor(kind=pb.ACTOR_KIND_SUBJECT),
        collection_method=99, evidence_ref="x" * 501, idempotency_key=unique("wd")))

    assert set(violations) == {("collection_method", "enum.defined_only"), ("evidence_ref", "string.max_len")}
    assert (await gate.CheckConsent(check(subject, p.purpose_id))).decision == pb.DECISION_ALLOW


async def test_consent_as_of_needs_a_moment_not_in_the_future(admin, gate):
    p = await registered_purpose(admin)
    subject = unique("subj")
    await gate.GrantConsent(grant(subject, p.purpose_id))
    tomorrow = timestamp_pb2.Timestamp()
    tomorrow.FromDatetime(datetime.datetime.now(datetime.UTC) + datetime.timedelta(days=1))

    missing = await invalid(gate.GetConsentAsOf, pb.GetConsentAsOfRequest(subject_id=subject, purpose_id=p.purpose_id))
    future = await invalid(gate.GetConsentAsOf, pb.GetConsentAsOfRequest(subject_id=subject, purpose_id=p.purpose_id,
                                                                          as_of=tomorrow))

    assert (missing, future) == ([("as_of", "required")], [("as_of", "timestamp.lte")])
