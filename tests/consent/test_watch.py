"""WatchConsents across replicas: a change committed through one replica reaches the streams of
another (the channel is PostgreSQL's), and a replica that stops ends its streams itself, so their
readers move to another replica at once instead of waiting out the shutdown grace."""

import asyncio

import grpc

from consentry.consent.v1 import consent_pb2 as pb
from consentry.consent.v1 import consent_pb2_grpc
from services.consent.app import ConsentApp
from services.consent.service.watch import subject_reference
from tests.consent.builders import grant, registered_purpose
from tests.consent.fixtures import consent_settings
from tests.support import secure_channel, unique


async def read_into(stream, messages: list) -> None:
    """Reads on while the test acts: a reader that stops reading is cut off (its heartbeats would vouch
    late)."""
    while (message := await stream.read()) is not grpc.aio.EOF:
        messages.append(message)


async def test_a_change_through_one_replica_reaches_the_streams_of_another(
        run_dir, postgres, kafka, dev_ca, vault, consent_app, admin, gate):
    replica = ConsentApp(consent_settings(run_dir, dev_ca, postgres.dsn("consent"), kafka, vault))
    await replica.start()
    channel = secure_channel(dev_ca, replica.port, "face-app")
    try:
        stream = consent_pb2_grpc.ConsentServiceStub(channel).WatchConsents(pb.WatchConsentsRequest())
        started = (await stream.read()).started
        messages: list = []
        reading = asyncio.create_task(read_into(stream, messages))
        p = await registered_purpose(admin)
        subject = unique("subj")

        await gate.GrantConsent(grant(subject, p.purpose_id))  # through the first replica
        granted = pb.ConsentChanged(subject_ref=subject_reference(started.ref_key, subject), purpose_id=p.purpose_id)
        async with asyncio.timeout(10):
            while granted not in [m.changed for m in messages]:  # noqa: ASYNC110 - the reader fills it
                await asyncio.sleep(0.05)

        await replica.stop()
        await asyncio.wait_for(reading, 10)
        assert await stream.code() == grpc.StatusCode.OK  # ended by the replica, not cut at its grace's end
    finally:
        await channel.close()
        await replica.stop()


async def test_an_interaction_is_not_announced_and_a_withdrawal_is(consent_app, dev_ca, admin, gate):
    channel = secure_channel(dev_ca, consent_app.port, "face-app")
    try:
        stream = consent_pb2_grpc.ConsentServiceStub(channel).WatchConsents(pb.WatchConsentsRequest())
        started = (await stream.read()).started
        messages: list = []
        reading = asyncio.create_task(read_into(stream, messages))
        p = await registered_purpose(admin)
        subject = unique("subj")
        await gate.GrantConsent(grant(subject, p.purpose_id))
        changed = pb.ConsentChanged(subject_ref=subject_reference(started.ref_key, subject), purpose_id=p.purpose_id)
        async with asyncio.timeout(10):
            while changed not in [m.changed for m in messages]:  # noqa: ASYNC110 - the reader fills it
                await asyncio.sleep(0.05)
        granted = len(messages)

        await gate.RecordInteraction(pb.RecordInteractionRequest(subject_id=subject, purpose_id=p.purpose_id))
        await gate.WithdrawConsent(pb.WithdrawConsentRequest(
            subject_id=subject, purpose_id=p.purpose_id, actor=pb.Actor(kind=pb.ACTOR_KIND_SUBJECT),
            idempotency_key=unique("wd")))
        async with asyncio.timeout(10):
            while changed not in [m.changed for m in messages[granted:]]:  # noqa: ASYNC110
                await asyncio.sleep(0.05)
        reading.cancel()

        assert [m.changed for m in messages[granted:] if m.WhichOneof("event") == "changed"] == [changed]
    finally:
        await channel.close()
