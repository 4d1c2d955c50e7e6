"""WatchConsents across replicas: a change committed through one replica reaches the streams of
another (the channel is PostgreSQL's), and a replica that stops ends its streams itself, so their
readers move to another replica at once instead of waiting out the shutdown grace."""

import grpc

from consentry.consent.v1 import consent_pb2 as pb
from consentry.consent.v1 import consent_pb2_grpc
from services.consent.app import ConsentApp
from services.consent.service.watch import subject_reference
from tests.consent.builders import grant, registered_purpose
from tests.consent.fixtures import consent_settings
from tests.support import secure_channel, unique
from tests.watching import Watching


def changed_for(started, subject: str, purpose_id: str) -> pb.ConsentChanged:
    return pb.ConsentChanged(subject_ref=subject_reference(started.ref_key, subject), purpose_id=purpose_id)


async def test_a_change_through_one_replica_reaches_the_streams_of_another(
        run_dir, postgres, kafka, dev_ca, vault, consent_app, admin, gate):
    replica = ConsentApp(consent_settings(run_dir, dev_ca, postgres.dsn("consent"), kafka, vault))
    await replica.start()
    channel = secure_channel(dev_ca, replica.port, "face-app")
    try:
        async with Watching(consent_pb2_grpc.ConsentServiceStub(channel).WatchConsents(
                pb.WatchConsentsRequest())) as watching:
            p, subject = await registered_purpose(admin), unique("subj")

            await gate.GrantConsent(grant(subject, p.purpose_id))  # through the first replica
            granted = changed_for(watching.started, subject, p.purpose_id)
            await watching.until(lambda: granted in watching.of_kind("changed"))

            await replica.stop()
            assert await watching.ended() == grpc.StatusCode.OK  # ended by the replica, not cut at its grace's end
    finally:
        await channel.close()
        await replica.stop()


async def test_an_interaction_is_not_announced_and_a_withdrawal_is(consent_app, dev_ca, admin, gate):
    channel = secure_channel(dev_ca, consent_app.port, "face-app")
    try:
        async with Watching(consent_pb2_grpc.ConsentServiceStub(channel).WatchConsents(
                pb.WatchConsentsRequest())) as watching:
            p, subject = await registered_purpose(admin), unique("subj")
            await gate.GrantConsent(grant(subject, p.purpose_id))
            changed = changed_for(watching.started, subject, p.purpose_id)
            await watching.until(lambda: changed in watching.of_kind("changed"))
            granted = len(watching.messages)

            await gate.RecordInteraction(pb.RecordInteractionRequest(subject_id=subject, purpose_id=p.purpose_id))
            await gate.WithdrawConsent(pb.WithdrawConsentRequest(
                subject_id=subject, purpose_id=p.purpose_id, actor=pb.Actor(kind=pb.ACTOR_KIND_SUBJECT),
                idempotency_key=unique("wd")))
            await watching.until(lambda: changed in watching.of_kind("changed", granted))

            assert watching.of_kind("changed", granted) == [changed]
    finally:
        await channel.close()
