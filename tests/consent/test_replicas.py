"""Two replicas of the consent service on one database: a change made through one, or directly in
PostgreSQL, reaches the other's decision cache through change notifications."""

import asyncio

import pytest

from consentry.consent.v1 import consent_pb2 as pb
from consentry.consent.v1 import consent_pb2_grpc
from services.consent.app import ConsentApp
from tests.consent.builders import CONTROLLER, check, grant, registered_purpose
from tests.consent.fixtures import consent_settings
from tests.support import secure_channel, unique


@pytest.fixture(scope="module")
async def replica(run_dir, postgres, kafka, dev_ca, vault, consent_app):
    app = ConsentApp(consent_settings(run_dir, dev_ca, postgres.dsn("consent"), kafka, vault))
    await app.start()
    channel = secure_channel(dev_ca, app.port, "admin")
    yield app, consent_pb2_grpc.ConsentServiceStub(channel)
    await channel.close()
    await app.stop()


async def eventually_cached(app, client, subject: str, purpose_id: str) -> bool:
    """Asks until the replica keeps its ALLOW in memory: the grant's own change notice may reach it after
    its first answer, and rightly empties that entry."""
    for _ in range(100):
        assert (await client.CheckConsent(check(subject, purpose_id, CONTROLLER))).decision == pb.DECISION_ALLOW
        if (subject, purpose_id) in app.gate.cache._entries:
            return True
        await asyncio.sleep(0.05)
    return False


async def eventually_denied(client, subject: str, purpose_id: str) -> pb.CheckConsentResponse:
    for _ in range(100):
        answer = await client.CheckConsent(check(subject, purpose_id, CONTROLLER))
        if answer.decision == pb.DECISION_DENY:
            return answer
        await asyncio.sleep(0.01)
    return answer


async def test_withdrawal_on_one_replica_reaches_the_others_cache(admin, gate, replica):
    app, other = replica
    p = await registered_purpose(admin)
    subject = unique("subj")
    await gate.GrantConsent(grant(subject, p.purpose_id))
    assert await eventually_cached(app, other, subject, p.purpose_id)  # the other replica answers from memory

    await gate.WithdrawConsent(pb.WithdrawConsentRequest(subject_id=subject, purpose_id=p.purpose_id,
                                                         actor=pb.Actor(kind=pb.ACTOR_KIND_SUBJECT),
                                                         idempotency_key=unique("wd")))

    answer = await eventually_denied(other, subject, p.purpose_id)
    assert answer.reason == pb.DENY_REASON_WITHDRAWN


async def test_change_made_directly_in_the_database_reaches_the_cache(admin, gate, replica, postgres):
    _, other = replica
    p = await registered_purpose(admin)
    subject = unique("subj")
    await gate.GrantConsent(grant(subject, p.purpose_id))
    assert (await other.CheckConsent(check(subject, p.purpose_id, CONTROLLER))).decision == pb.DECISION_ALLOW

    postgres.execute("UPDATE consents SET state = 2 WHERE subject_id = $1", subject, database="consent")

    assert (await eventually_denied(other, subject, p.purpose_id)).reason == pb.DENY_REASON_WITHDRAWN


async def test_same_replica_reads_its_own_withdrawal_at_once(admin, gate):
    p = await registered_purpose(admin)
    subject = unique("subj")
    await gate.GrantConsent(grant(subject, p.purpose_id))
    for _ in range(3):  # cached now
        assert (await gate.CheckConsent(check(subject, p.purpose_id))).decision == pb.DECISION_ALLOW

    await gate.WithdrawConsent(pb.WithdrawConsentRequest(subject_id=subject, purpose_id=p.purpose_id,
                                                         actor=pb.Actor(kind=pb.ACTOR_KIND_SUBJECT),
                                                         idempotency_key=unique("wd")))

    assert (await gate.CheckConsent(check(subject, p.purpose_id))).reason == pb.DENY_REASON_WITHDRAWN
