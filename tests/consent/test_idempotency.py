"""Every mutating RPC takes an idempotency key; a retry returns the first result."""

import asyncio

import grpc
import pytest

from consentry.consent.v1 import consent_pb2 as pb
from tests.consent.builders import grant, registered_purpose
from tests.support import read_events, unique


async def test_retried_grant_returns_the_first_result(admin, gate):
    p = await registered_purpose(admin)
    request = grant(unique("subj"), p.purpose_id)

    first = await gate.GrantConsent(request)
    retry = await gate.GrantConsent(request)

    assert retry == first  # same record, same receipt bytes and signature


async def test_concurrent_retries_make_one_change_and_one_event(admin, gate, kafka, consent_events):
    p = await registered_purpose(admin)
    subject = unique("subj")
    request = grant(subject, p.purpose_id)

    answers = await asyncio.gather(*(gate.GrantConsent(request) for _ in range(8)))
    history = await gate.GetConsentHistory(pb.GetConsentHistoryRequest(subject_id=subject, purpose_id=p.purpose_id))

    assert all(a == answers[0] for a in answers)
    assert [e.event_type for e in history.events] == [pb.CONSENT_EVENT_TYPE_GRANTED]
    events = await read_events(kafka, "consent.events", opener=consent_events,
                               until=lambda evs: any(e.subject_id == subject for e in evs))
    assert len([e for e in events if e.subject_id == subject]) == 1


async def test_reusing_a_key_for_another_request_is_refused(admin, gate):
    p = await registered_purpose(admin)
    key = unique("grant")
    await gate.GrantConsent(grant(unique("subj"), p.purpose_id, idempotency_key=key))
    other_subject = unique("subj")

    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await gate.GrantConsent(grant(other_subject, p.purpose_id, idempotency_key=key))

    assert refused.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert not (await gate.ListConsents(pb.ListConsentsRequest(subject_id=other_subject))).consents


async def test_retried_withdrawal_returns_the_first_result(admin, gate):
    p = await registered_purpose(admin)
    subject = unique("subj")
    await gate.GrantConsent(grant(subject, p.purpose_id))
    request = pb.WithdrawConsentRequest(subject_id=subject, purpose_id=p.purpose_id,
                                        actor=pb.Actor(kind=pb.ACTOR_KIND_SUBJECT), idempotency_key=unique("wd"))

    assert await gate.WithdrawConsent(request) == await gate.WithdrawConsent(request)


async def test_keys_are_scoped_per_client(admin, gate, connect):
    """Two clients choosing the same key do not see each other's answers."""
    p = await registered_purpose(admin)
    key = unique("shared-key")
    mine = await gate.GrantConsent(grant(unique("subj"), p.purpose_id, idempotency_key=key))
    theirs = await admin.GrantConsent(grant(unique("subj"), p.purpose_id, idempotency_key=key))

    assert mine.consent.subject_id != theirs.consent.subject_id
