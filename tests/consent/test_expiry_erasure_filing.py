"""Retention and inactivity expiry (BIPA 15(a)), erasure, and the filing threshold count."""

import asyncio
from datetime import UTC, datetime, timedelta

import grpc
import pytest
from google.protobuf import timestamp_pb2

from consentry.consent.v1 import consent_admin_pb2 as admin_pb
from consentry.consent.v1 import consent_pb2 as pb
from consentry.consent.v1 import events_pb2
from tests.consent.builders import CONTROLLER, check, grant, registered_controller, registered_purpose, time_passes
from tests.support import read_events, unique


def at(moment: datetime) -> timestamp_pb2.Timestamp:
    out = timestamp_pb2.Timestamp()
    out.FromDatetime(moment)
    return out


async def test_consent_past_its_retention_is_denied_before_and_expired_by_the_sweep(
        admin, gate, kafka, consent_events, consent_admin):
    p = await registered_purpose(admin, retention=timedelta(seconds=1))
    subject = unique("subj")
    await gate.GrantConsent(grant(subject, p.purpose_id))
    await asyncio.sleep(1.1)

    before_sweep = await gate.CheckConsent(check(subject, p.purpose_id))
    swept = await consent_admin.ExpireConsents(admin_pb.ExpireConsentsRequest())
    listed = await gate.ListConsents(pb.ListConsentsRequest(subject_id=subject))

    assert before_sweep.reason == pb.DENY_REASON_EXPIRED
    assert swept.consents_expired >= 1
    assert listed.consents[0].state == pb.CONSENT_STATE_EXPIRED
    events = await read_events(kafka, "consent.events", opener=consent_events,
                               until=lambda evs: any(e.subject_id == subject and e.type == "consent.expired"
                                                     for e in evs))
    expired = next(e for e in events if e.subject_id == subject and e.type == "consent.expired")
    payload = events_pb2.ConsentExpired()
    assert expired.payload.Unpack(payload) and payload.cause == "retention"


async def test_three_years_without_interaction_expires_consent(admin, gate, postgres, consent_admin):
    p = await registered_purpose(admin, retention=timedelta(days=3650))
    idle, active = unique("idle"), unique("active")
    await gate.GrantConsent(grant(idle, p.purpose_id))
    await gate.GrantConsent(grant(active, p.purpose_id))

    # Just short of three years nothing expires; a day past it, the idle subject's consent does.
    await time_passes(postgres, idle, p.purpose_id, timedelta(days=1094))
    await consent_admin.ExpireConsents(admin_pb.ExpireConsentsRequest())
    history_before = await gate.GetConsentHistory(pb.GetConsentHistoryRequest(subject_id=idle, purpose_id=p.purpose_id))
    await time_passes(postgres, idle, p.purpose_id, timedelta(days=2))
    await consent_admin.ExpireConsents(admin_pb.ExpireConsentsRequest())
    history = await gate.GetConsentHistory(pb.GetConsentHistoryRequest(subject_id=idle, purpose_id=p.purpose_id))
    active_now = await gate.CheckConsent(check(active, p.purpose_id))

    assert [e.event_type for e in history_before.events] == [pb.CONSENT_EVENT_TYPE_GRANTED]
    assert history.events[-1].event_type == pb.CONSENT_EVENT_TYPE_EXPIRED and history.events[-1].reason == "inactivity"
    assert active_now.decision == pb.DECISION_ALLOW


async def test_expiry_never_looks_ahead_of_now(admin, gate, consent_admin):
    p = await registered_purpose(admin, retention=timedelta(hours=1))
    subject = unique("subj")
    await gate.GrantConsent(grant(subject, p.purpose_id))

    with pytest.raises(grpc.aio.AioRpcError) as refused:  # a typo in the year would expire everyone
        await consent_admin.ExpireConsents(admin_pb.ExpireConsentsRequest(
            as_of=at(datetime(9999, 1, 1, tzinfo=UTC))))

    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert (await gate.CheckConsent(check(subject, p.purpose_id))).decision == pb.DECISION_ALLOW


async def test_recorded_interaction_moves_last_use_forward(admin, gate):
    p = await registered_purpose(admin)
    subject = unique("subj")
    granted = await gate.GrantConsent(grant(subject, p.purpose_id))
    await asyncio.sleep(0.01)

    touched = await gate.RecordInteraction(pb.RecordInteractionRequest(subject_id=subject, purpose_id=p.purpose_id))

    assert touched.last_interaction_at.ToDatetime() > granted.consent.last_interaction_at.ToDatetime()


async def test_erased_subject_is_denied_everywhere_and_cannot_consent_again(
        admin, gate, kafka, consent_events, consent_admin):
    first, second = await registered_purpose(admin), await registered_purpose(admin)
    subject = unique("subj")
    await gate.GrantConsent(grant(subject, first.purpose_id))
    await gate.GrantConsent(grant(subject, second.purpose_id))

    request_id = unique("dsr")
    erased = await consent_admin.EraseSubject(admin_pb.EraseSubjectRequest(
        subject_id=subject, request_id=request_id, controller_id=CONTROLLER,
        idempotency_key=unique("erase")))

    assert erased.consents_erased == 2
    for p in (first, second):
        assert (await gate.CheckConsent(check(subject, p.purpose_id))).reason == pb.DENY_REASON_SUBJECT_ERASED
    assert not (await gate.ListConsents(pb.ListConsentsRequest(subject_id=subject))).consents
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await gate.GrantConsent(grant(subject, first.purpose_id))
    assert refused.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    def erasure(e) -> events_pb2.SubjectErased | None:
        payload = events_pb2.SubjectErased()
        return payload if e.type == "consent.subject.erased" and e.payload.Unpack(payload) else None

    events = await read_events(kafka, "consent.events", opener=consent_events,
                               until=lambda evs: any((p := erasure(e)) and p.request_id == request_id for e in evs))
    published = next(p for e in events if (p := erasure(e)) and p.request_id == request_id)
    assert published.consents_erased == 2 and published.subject_tombstone.startswith("erased:")


async def test_filing_count_covers_server_stored_face_data_of_one_controller(admin, gate, consent_admin):
    controller = (await registered_controller(consent_admin)).controller_id
    server = await registered_purpose(admin, controller_id=controller)
    second_server = await registered_purpose(admin, controller_id=controller)
    on_device = await registered_purpose(admin, controller_id=controller, storage_location=pb.STORAGE_LOCATION_DEVICE)
    elsewhere = await registered_purpose(admin)
    alice, bob, carol = unique("alice"), unique("bob"), unique("carol")
    await admin.GrantConsent(grant(alice, server.purpose_id))
    await admin.GrantConsent(grant(alice, second_server.purpose_id))  # one person, counted once
    await admin.GrantConsent(grant(bob, on_device.purpose_id))        # stays on the device
    await admin.GrantConsent(grant(carol, elsewhere.purpose_id))      # another controller
    await admin.GrantConsent(grant(bob, second_server.purpose_id))
    await admin.WithdrawConsent(pb.WithdrawConsentRequest(subject_id=bob, purpose_id=second_server.purpose_id,
                                                         actor=pb.Actor(kind=pb.ACTOR_KIND_SUBJECT),
                                                         idempotency_key=unique("wd")))

    status = await admin.GetFilingStatus(pb.GetFilingStatusRequest(controller_id=controller))

    assert (status.subjects_with_stored_face_data, status.threshold) == (1, 100_000)
    assert status.state == pb.FILING_STATE_BELOW_THRESHOLD
