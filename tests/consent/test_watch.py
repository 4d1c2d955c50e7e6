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


async def next_change(stream) -> pb.ConsentChanged:
    while (message := await stream.read()).WhichOneof("event") != "changed":
        assert message.WhichOneof("event") in ("heartbeat", "reset")  # a purpose's changes reset
    return message.changed


async def test_a_change_through_one_replica_reaches_the_streams_of_another(
        run_dir, postgres, kafka, dev_ca, vault, consent_app, admin, gate):
    replica = ConsentApp(consent_settings(run_dir, dev_ca, postgres.dsn("consent"), kafka, vault))
    await replica.start()
    channel = secure_channel(dev_ca, replica.port, "face-app")
    try:
        stream = consent_pb2_grpc.ConsentServiceStub(channel).WatchConsents(pb.WatchConsentsRequest())
        started = (await stream.read()).started
        p = await registered_purpose(admin)
        subject = unique("subj")

        await gate.GrantConsent(grant(subject, p.purpose_id))  # through the first replica

        assert await next_change(stream) == pb.ConsentChanged(
            subject_ref=subject_reference(started.ref_key, subject), purpose_id=p.purpose_id)

        await replica.stop()
        while (message := await stream.read()) is not grpc.aio.EOF:
            assert message.WhichOneof("event") in ("heartbeat", "changed", "reset")
        assert await stream.code() == grpc.StatusCode.OK  # ended by the replica, not cut at its grace's end
    finally:
        await channel.close()
        await replica.stop()
