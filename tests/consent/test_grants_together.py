"""Grants of one purpose arriving together commit in one transaction, and each is answered as if it
had come alone: a refused one changes nothing and leaves its idempotency key free, a retry gets its
first answer, two grants of one person's purpose or under one key go one after the other, and a
notice being published at the same time never deadlocks with them."""

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import grpc

from consentry.consent.v1 import consent_admin_pb2 as admin_pb
from consentry.consent.v1 import consent_pb2 as pb
from tests.consent.builders import CONTROLLER, grant, registered_purpose
from tests.consent.test_erasure import lock_waiters
from tests.consent.test_filing_count import connected
from tests.support import unique


@asynccontextmanager
async def queued_together(postgres, gate, purpose_id: str) -> AsyncIterator[None]:
    """Grants of the purpose sent in the block queue behind a first one held at its purpose (by
    another session, as a notice publication holds it), and go in the next batch."""
    async with connected(postgres) as holder:
        async with holder.transaction():
            await holder.execute("SELECT FROM purposes WHERE purpose_id = $1 FOR UPDATE", purpose_id)
            opening = asyncio.ensure_future(gate.GrantConsent(grant(unique("subj"), purpose_id)))
            await lock_waiters(holder, 1)
            yield
            await asyncio.sleep(1.5)  # the calls reach the service and queue (a margin for a busy machine)
        await opening


async def transactions(postgres, subjects: list[str], purpose_id: str) -> dict[str, int]:
    """The transaction that last wrote each subject's record of the purpose."""
    async with connected(postgres) as conn:
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

    async with queued_together(postgres, gate, p.purpose_id):
        calls = [asyncio.ensure_future(gate.GrantConsent(grant(s, p.purpose_id))) for s in good]
        calls += [asyncio.ensure_future(gate.GrantConsent(r)) for r in [earlier, *refused.values()]]
    answers = await asyncio.gather(*calls, return_exceptions=True)
    together = await transactions(postgres, good, p.purpose_id)
    left = await transactions(postgres, [r.subject_id for name, r in refused.items() if name != "erased"],
                              p.purpose_id)

    granted, (replayed, *failures) = answers[:len(good)], answers[len(good):]
    assert all(isinstance(a, pb.GrantConsentResponse) and a.consent.subject_id == s
               for a, s in zip(granted, good, strict=True))
    assert len(set(together.values())) == 1 and set(together) == set(good)  # one transaction for the four
    assert replayed == first_answer
    assert all(isinstance(f, grpc.aio.AioRpcError) and f.code() == grpc.StatusCode.FAILED_PRECONDITION
               for f in failures), failures
    why = [f.details() for f in failures]
    assert "has been erased" in why[0] and "notice_hash does not match" in why[1]
    assert "a guardian" in why[2] and "already used for a different request" in why[3]
    assert left == {}
    # A refused call's key is free again: the call put right under the same key is granted.
    fixed = grant(wrong_hash.subject_id, p.purpose_id, idempotency_key=wrong_hash.idempotency_key)
    assert (await gate.GrantConsent(fixed)).consent.subject_id == wrong_hash.subject_id


async def test_two_grants_of_one_persons_purpose_queued_together_both_land_one_after_the_other(
        admin, gate, postgres):
    p = await registered_purpose(admin)
    person = unique("subj")

    async with queued_together(postgres, gate, p.purpose_id):
        calls = [asyncio.ensure_future(gate.GrantConsent(grant(person, p.purpose_id, evidence_ref=f"tap-{n}")))
                 for n in range(2)]
    answers = await asyncio.gather(*calls)
    history = await gate.GetConsentHistory(pb.GetConsentHistoryRequest(subject_id=person, purpose_id=p.purpose_id))

    assert answers[0].consent.consent_id == answers[1].consent.consent_id  # one record of the pair
    assert [e.event_type for e in history.events] == [pb.CONSENT_EVENT_TYPE_GRANTED] * 2
    assert [e.evidence_ref for e in history.events] == ["tap-0", "tap-1"]  # in the order they came


async def test_two_calls_under_one_key_queued_together_are_answered_as_first_and_reuse(admin, gate, postgres):
    p = await registered_purpose(admin)
    key, people = unique("grant"), [unique("subj") for _ in range(2)]

    async with queued_together(postgres, gate, p.purpose_id):
        calls = [asyncio.ensure_future(gate.GrantConsent(grant(person, p.purpose_id, idempotency_key=key)))
                 for person in people]
    first, second = await asyncio.gather(*calls, return_exceptions=True)

    assert isinstance(first, pb.GrantConsentResponse) and first.consent.subject_id == people[0]
    assert isinstance(second, grpc.aio.AioRpcError) and "already used for a different request" in second.details()
    assert set(await transactions(postgres, people, p.purpose_id)) == {people[0]}


async def test_a_notice_published_while_a_batch_writes_does_not_deadlock_with_it(admin, gate, postgres):
    """A publication holds its purpose, then updates the purpose's records; a batch re-granting one
    record and writing a new one (whose key to the purpose needs that hold) must not hold the first
    record meanwhile. The batch is lined up behind a call whose idempotency key another session holds."""
    p = await registered_purpose(admin)
    again, renewed, new = unique("subj"), unique("subj"), unique("subj")
    given = [grant(person, p.purpose_id) for person in (again, renewed)]
    for request in given:
        await gate.GrantConsent(request)
    held_key = unique("grant")
    async with connected(postgres) as key_holder, connected(postgres) as publisher:
        caller = await key_holder.fetchrow("SELECT client_id, method FROM idempotency WHERE idem_key = $1",
                                           given[0].idempotency_key)  # the gate's, under which it sends
        key_tx = key_holder.transaction()
        await key_tx.start()
        await key_holder.execute("INSERT INTO idempotency (client_id, method, idem_key, request_hash)"
                                 " VALUES ($1, $2, $3, '\\x00')", caller["client_id"], caller["method"], held_key)
        waiting = asyncio.ensure_future(gate.GrantConsent(grant(again, p.purpose_id, idempotency_key=held_key)))
        await lock_waiters(publisher, 1)
        batch = [asyncio.ensure_future(gate.GrantConsent(grant(person, p.purpose_id))) for person in (renewed, new)]
        await asyncio.sleep(1.5)  # the two queue behind the held call, for one batch
        async with publisher.transaction():
            await publisher.execute("SELECT FROM purposes WHERE purpose_id = $1 FOR UPDATE", p.purpose_id)
            await key_tx.rollback()  # the held call goes on, and the batch after it
            me = await publisher.fetchval("SELECT pg_backend_pid()")
            async with asyncio.timeout(10):
                while not await publisher.fetchval(  # noqa: ASYNC110
                        "SELECT count(*) FROM pg_stat_activity WHERE $1 = ANY(pg_blocking_pids(pid))", me):
                    await asyncio.sleep(0.02)
            updated = await publisher.execute(  # as a material change marks the purpose's records
                "UPDATE consents SET updated_at = updated_at WHERE purpose_id = $1 AND state = 1", p.purpose_id)
        answers = await asyncio.gather(waiting, *batch, return_exceptions=True)

    assert updated == "UPDATE 2"  # the two records given before, neither held by the batch
    assert all(isinstance(a, pb.GrantConsentResponse) for a in answers), answers
