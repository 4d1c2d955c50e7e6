"""Erasure in the consent service leaves a keyed tombstone and nothing else that names the person."""

import asyncio
import hashlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg
import grpc
import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition

from consentry.consent.v1 import consent_admin_pb2 as admin_pb
from consentry.consent.v1 import consent_pb2 as pb
from consentry.events.v1 import envelope_pb2, outbox_pb2
from services.common.outbox import request_replay
from tests.consent.builders import CONTROLLER, grant, registered_purpose
from tests.consent.test_filing_count import connected
from tests.erasure_scan import scan_database
from tests.support import unique

# Idempotency records keep whole answers until their TTL: bounded in time, tested on their own.
IDEMPOTENCY = {"idempotency"}


async def test_erasure_leaves_only_a_keyed_tombstone_in_the_consent_tables(
        admin, gate, postgres, consent_admin):
    first, second = await registered_purpose(admin), await registered_purpose(admin, minimum_age=14)
    person, child = unique("person"), unique("child")
    evidence, reason, verification = unique("evidence-ref"), unique("withdrawal-reason"), unique("kyc")
    await gate.GrantConsent(grant(person, first.purpose_id, evidence_ref=evidence))
    await gate.GrantConsent(grant(person, second.purpose_id, evidence_ref=evidence))
    await gate.WithdrawConsent(pb.WithdrawConsentRequest(
        subject_id=person, purpose_id=second.purpose_id, actor=pb.Actor(kind=pb.ACTOR_KIND_SUBJECT),
        reason=reason, idempotency_key=unique("wd")))
    as_guardian = pb.Actor(kind=pb.ACTOR_KIND_GUARDIAN, guardian_id=person, guardian_verification_ref=verification)
    await gate.GrantConsent(grant(child, second.purpose_id, subject_age=9, actor=as_guardian))
    needles = {"subject": person, "evidence": evidence, "reason": reason, "verification": verification}
    before = await scan_database(postgres.dsn("consent"), needles, skip=IDEMPOTENCY)

    await consent_admin.EraseSubject(admin_pb.EraseSubjectRequest(
        subject_id=person, request_id=unique("dsr"), controller_id=CONTROLLER,
        idempotency_key=unique("erase")))

    after = await scan_database(postgres.dsn("consent"), needles, skip=IDEMPOTENCY)
    assert {(table, label) for table, label, _ in before.hits} >= {
        ("consents", "subject"), ("consents", "evidence"), ("consents", "verification"), ("consent_history", "reason"),
        ("consent_history", "evidence"), ("consent_history", "verification"),
        ("consent_history", "subject"),  # as the child's guardian
        ("stored_face_data_subjects", "subject")}  # counted for filing
    assert after.hits == [] and after.rows >= before.rows
    history = await gate.GetConsentHistory(pb.GetConsentHistoryRequest(subject_id=child, purpose_id=second.purpose_id))
    tombstone = history.consent.actor.guardian_id
    assert tombstone.startswith("erased:") and tombstone == history.events[0].actor.guardian_id
    conn = await asyncpg.connect(postgres.dsn("consent"))
    try:
        tags = {r["subject_tag"] for r in await conn.fetch("SELECT subject_tag FROM erased_subjects")}
    finally:
        await conn.close()
    assert tombstone.removeprefix("erased:") in tags
    assert hashlib.sha256(person.encode()).hexdigest() not in tags  # keyed, not a plain hash
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await gate.GrantConsent(grant(person, first.purpose_id))
    assert refused.value.code() == grpc.StatusCode.FAILED_PRECONDITION


async def test_erasure_redacts_the_outbox_and_a_replay_never_publishes_the_person_again(
        admin, gate, consent_app, kafka, consent_admin):
    p = await registered_purpose(admin, minimum_age=14)
    person, child = unique("person"), unique("child")
    await gate.GrantConsent(grant(person, p.purpose_id))
    as_guardian = pb.Actor(kind=pb.ACTOR_KIND_GUARDIAN, guardian_id=person, guardian_verification_ref=unique("kyc"))
    await gate.GrantConsent(grant(child, p.purpose_id, subject_age=9, actor=as_guardian))
    naming = "SELECT sequence, event_type, published_at FROM outbox o WHERE o::text LIKE '%' || $1 || '%' ORDER BY id"
    async with asyncio.timeout(10), consent_app.pool.acquire() as conn:  # published: a replay would send them again
        before = await conn.fetch(naming, person)
        while not all(r["published_at"] for r in before):
            await asyncio.sleep(0.05)
            before = await conn.fetch(naming, person)

    await consent_admin.EraseSubject(admin_pb.EraseSubjectRequest(
        subject_id=person, request_id=unique("dsr"), controller_id=CONTROLLER,
        idempotency_key=unique("erase")))

    async with consent_app.pool.acquire() as conn:
        after = await conn.fetch(naming, person)
        redacted = await conn.fetch("SELECT sequence, subject_id, payload FROM outbox WHERE sequence = ANY($1)",
                                    [r["sequence"] for r in before])
    assert [r["event_type"] for r in before] == ["consent.granted", "consent.granted"]  # the child's names its guardian
    assert after == []  # the erasure's own event names only the keyed tombstone
    assert all(r["subject_id"] == "" and r["payload"] == b"" for r in redacted)
    consumer, ends = await _positions_at_end(kafka, "consent.events")
    try:
        await request_replay(consent_app.pool, min(r["sequence"] for r in before))
        consent_app.runtime.relay.notify()
        replayed = await _published_from(consumer, ends, {r["sequence"] for r in before})
    finally:
        await consumer.stop()
    assert {e.sequence for e in replayed} == {r["sequence"] for r in before}
    assert all(e.payload.Is(outbox_pb2.Redacted.DESCRIPTOR) and not e.subject_id for e in replayed)
    assert not any(person in e.SerializeToString().decode("latin-1") for e in replayed)


async def _positions_at_end(broker, topic: str):
    consumer = AIOKafkaConsumer(**broker.client_options(), enable_auto_commit=False)
    await consumer.start()
    await consumer.topics()
    partitions = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or ())]
    consumer.assign(partitions)
    await consumer.seek_to_end(*partitions)
    return consumer, {p: await consumer.position(p) for p in partitions}


async def _published_from(consumer, ends, sequences: set[int], timeout: float = 15.0) -> list:  # noqa: ASYNC109
    """Envelopes with these sequences published after `ends`, once each has come."""
    found: dict[int, envelope_pb2.EventEnvelope] = {}
    async with asyncio.timeout(timeout):
        while set(found) != sequences:
            for records in (await consumer.getmany(timeout_ms=200)).values():
                for envelope in map(envelope_pb2.EventEnvelope.FromString, (r.value for r in records)):
                    if envelope.sequence in sequences:
                        found[envelope.sequence] = envelope
    return list(found.values())


async def lock_waiters(conn: asyncpg.Connection, at_least: int) -> None:
    """Until `at_least` other sessions of the database wait for a lock."""
    async with asyncio.timeout(10):
        while await conn.fetchval("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"  # noqa: ASYNC110
                                  " AND wait_event_type = 'Lock' AND pid <> pg_backend_pid()") < at_least:
            await asyncio.sleep(0.02)


async def _records_named(conn: asyncpg.Connection, person: str) -> list[str]:
    return [r["purpose_id"] for r in await conn.fetch("SELECT purpose_id FROM consents WHERE subject_id = $1", person)]


def _erasure(person: str) -> admin_pb.EraseSubjectRequest:
    return admin_pb.EraseSubjectRequest(subject_id=person, request_id=unique("dsr"), controller_id=CONTROLLER,
                                        idempotency_key=unique("erase"))


async def _consenting_with_another_purpose(admin, gate) -> tuple[str, str]:
    """A person with a consent to one purpose, and a second purpose they have none to."""
    first, second = await registered_purpose(admin), await registered_purpose(admin)
    person = unique("person")
    await gate.GrantConsent(grant(person, first.purpose_id))
    return person, second.purpose_id


@asynccontextmanager
async def _rows_locked(postgres, query: str, *args) -> AsyncIterator[None]:
    """`query`'s rows locked FOR UPDATE by another session until the block ends."""
    async with connected(postgres) as holder, holder.transaction():
        await holder.execute(f"{query} FOR UPDATE", *args)
        yield


async def test_a_grant_during_an_erasure_is_refused_and_leaves_no_record_of_the_person(
        admin, gate, postgres, consent_admin):
    person, other = await _consenting_with_another_purpose(admin, gate)
    async with connected(postgres) as watcher:
        # The erasure stops at the person's record until the block ends.
        async with _rows_locked(postgres, "SELECT 1 FROM consents WHERE subject_id = $1", person):
            erasing = asyncio.ensure_future(consent_admin.EraseSubject(_erasure(person)))
            await lock_waiters(watcher, 1)
            granting = asyncio.ensure_future(gate.GrantConsent(grant(person, other)))
            await asyncio.wait([granting], timeout=1.0)  # done at once unless it waits for the erasure
            assert not granting.done()  # so it reads after the erasure, not before
        erased = await erasing
        granted = (await asyncio.gather(granting, return_exceptions=True))[0]
        left = await _records_named(watcher, person)
    assert erased.consents_erased == 1
    assert isinstance(granted, grpc.aio.AioRpcError) and granted.code() == grpc.StatusCode.FAILED_PRECONDITION, granted
    assert left == []


async def test_an_erasure_during_a_grant_waits_for_it_and_erases_what_it_recorded(
        admin, gate, postgres, consent_admin):
    person, other = await _consenting_with_another_purpose(admin, gate)
    async with connected(postgres) as watcher:
        # The grant stops at writing its record (its purpose's key) until the block ends.
        async with _rows_locked(postgres, "SELECT 1 FROM purposes WHERE purpose_id = $1", other):
            granting = asyncio.ensure_future(gate.GrantConsent(grant(person, other)))
            await lock_waiters(watcher, 1)
            erasing = asyncio.ensure_future(consent_admin.EraseSubject(_erasure(person)))
            await asyncio.wait([erasing], timeout=1.0)  # done at once unless it waits for the grant
            assert not erasing.done()
        granted, erased = await granting, await erasing
        left = await _records_named(watcher, person)
    assert granted.consent.state == pb.CONSENT_STATE_GIVEN
    assert erased.consents_erased == 2
    assert left == []
