"""Erasure in the consent service leaves a keyed tombstone and nothing else that names the person."""

import hashlib

import asyncpg
import grpc
import pytest

from consentry.consent.v1 import consent_pb2 as pb
from tests.consent.builders import grant, registered_purpose
from tests.erasure_scan import scan_database
from tests.support import unique

# Rows other services' tests leave do not matter here: the ids searched for are this test's own.
OUTBOX_AND_IDEMPOTENCY = {"outbox", "idempotency"}  # bounded by retention, not by erasure (see README)


async def test_erasure_leaves_only_a_keyed_tombstone_in_the_consent_tables(admin, gate, postgres):
    first, second = await registered_purpose(admin), await registered_purpose(admin, minimum_age=14)
    person, child = unique("person"), unique("child")
    evidence, reason = unique("evidence-ref"), unique("withdrawal-reason")
    await gate.GrantConsent(grant(person, first.purpose_id, evidence_ref=evidence))
    await gate.GrantConsent(grant(person, second.purpose_id, evidence_ref=evidence))
    await gate.WithdrawConsent(pb.WithdrawConsentRequest(
        subject_id=person, purpose_id=second.purpose_id, actor=pb.Actor(kind=pb.ACTOR_KIND_SUBJECT),
        reason=reason, idempotency_key=unique("wd")))
    as_guardian = pb.Actor(kind=pb.ACTOR_KIND_GUARDIAN, guardian_id=person, guardian_verification_ref=unique("kyc"))
    await gate.GrantConsent(grant(child, second.purpose_id, subject_age=9, actor=as_guardian))
    needles = {"subject": person, "evidence": evidence, "reason": reason}
    before = await scan_database(postgres.dsn("consent"), needles, skip=OUTBOX_AND_IDEMPOTENCY)

    await admin.EraseSubject(pb.EraseSubjectRequest(subject_id=person, request_id=unique("dsr"),
                                                    idempotency_key=unique("erase")))

    after = await scan_database(postgres.dsn("consent"), needles, skip=OUTBOX_AND_IDEMPOTENCY)
    assert {(table, label) for table, label, _ in before.hits} >= {
        ("consents", "subject"), ("consents", "evidence"), ("consent_history", "reason"),
        ("consent_history", "subject")}  # the last: as the child's guardian
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
