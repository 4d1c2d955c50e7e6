"""Grants of one purpose arriving together commit in one transaction, and each is answered as if it
had come alone: a refused one changes nothing and leaves its idempotency key free, a retry gets its
first answer, and two grants of one person's purpose both land, one after the other."""

import asyncio

import grpc

from consentry.consent.v1 import consent_admin_pb2 as admin_pb
from consentry.consent.v1 import consent_pb2 as pb
from tests.consent.builders import CONTROLLER, grant, registered_purpose
from tests.consent.test_erasure import lock_waiters
from tests.consent.test_filing_count import connected
from tests.support import unique


async def _transactions(conn, subjects: list[str], purpose_id: str) -> dict[str, int]:
    """The transaction that last wrote each subject's record of the purpose."""
    rows = await conn.fetch("SELECT subject_id, xmin::text::bigint AS tx FROM consents"
                            " WHERE subject_id = ANY($1) AND purpose_id = $2", subjects, purpose_id)
    return {r["subject_id"]: r["tx"] for r in rows}


async def test_grants_arriving_together_commit_together_each_answered_as_if_alone(
        admin, gate, postgres, consent_admin):
    p = await registered_purpose(admin)
    earlier = grant(unique("subj"), p.purpose_id)
    first_answer = await gate.GrantConsent(earlier)
    erased = unique("person")
    await gate.GrantConsent(grant(erased, p.purpose_id))
    await consent_admin.EraseSubject(admin_pb.EraseSubjectRequest(
        subject_id=erased, request_id=unique("dsr"), controller_id=CONTROLLER, idempotency_key=unique("erase")))
    good = [unique("subj") for _ in range(4)]
    wrong_hash = grant(unique("subj"), p.purpose_id, notice_hash="0" * 64)
    child = grant(unique("subj"), p.purpose_id, subject_age=9)
    reused = grant(unique("subj"), p.purpose_id, idempotency_key=earlier.idempotency_key)
    refused = {"erased": grant(erased, p.purpose_id), "wrong hash": wrong_hash, "child": child, "reused": reused}

    async with connected(postgres) as watcher:
        # The first grant waits at its record (its purpose's key) until the block ends; the rest queue
        # behind its batch meanwhile, and go in the next.
        async with watcher.transaction():
            await watcher.execute("SELECT 1 FROM purposes WHERE purpose_id = $1 FOR UPDATE", p.purpose_id)
            opening = asyncio.ensure_future(gate.GrantConsent(grant(unique("subj"), p.purpose_id)))
            await lock_waiters(watcher, 1)
            calls = [asyncio.ensure_future(gate.GrantConsent(grant(s, p.purpose_id))) for s in good]
            calls += [asyncio.ensure_future(gate.GrantConsent(r)) for r in [earlier, *refused.values()]]
            await asyncio.sleep(0.5)  # the calls reach the service and queue
        await opening
        answers = await asyncio.gather(*calls, return_exceptions=True)
        together = await _transactions(watcher, good, p.purpose_id)
        left = await watcher.fetch("SELECT subject_id FROM consents WHERE subject_id = ANY($1)",
                                   [r.subject_id for name, r in refused.items() if name != "erased"])

    granted, (replayed, *failures) = answers[:len(good)], answers[len(good):]
    assert all(isinstance(a, pb.GrantConsentResponse) and a.consent.subject_id == s for a, s in zip(granted, good, strict=True))
    assert len(set(together.values())) == 1 and set(together) == set(good)  # one transaction for the four
    assert replayed == first_answer
    assert all(isinstance(f, grpc.aio.AioRpcError) and f.code() == grpc.StatusCode.FAILED_PRECONDITION
               for f in failures), failures
    why = [f.details() for f in failures]
    assert "has been erased" in why[0] and "notice_hash does not match" in why[1]
    assert "a guardian" in why[2] and "already used for a different request" in why[3]
    assert left == []
    # A refused call's key is free again: the call put right under the same key is granted.
    fixed = grant(wrong_hash.subject_id, p.purpose_id, idempotency_key=wrong_hash.idempotency_key)
    assert (await gate.GrantConsent(fixed)).consent.subject_id == wrong_hash.subject_id


async def test_two_grants_of_one_persons_purpose_at_once_both_land_one_after_the_other(admin, gate, postgres):
    p = await registered_purpose(admin)
    person = unique("subj")

    answers = await asyncio.gather(*(gate.GrantConsent(grant(person, p.purpose_id, evidence_ref=f"tap-{n}"))
                                     for n in range(2)))
    history = await gate.GetConsentHistory(pb.GetConsentHistoryRequest(subject_id=person, purpose_id=p.purpose_id))

    assert answers[0].consent.consent_id == answers[1].consent.consent_id  # one record of the pair
    assert [e.event_type for e in history.events] == [pb.CONSENT_EVENT_TYPE_GRANTED] * 2
    assert sorted(e.evidence_ref for e in history.events) == ["tap-0", "tap-1"]
