"""Kill the broker or the database under a running consent service: nothing is lost, and the
service answers again once they are back. This module runs its own processes, since it kills them."""

import asyncio

import pytest

from consentry.consent.v1 import consent_pb2 as pb
from consentry.consent.v1 import consent_pb2_grpc
from consentry_dev.launchers import PostgresProcess, TansuProcess, broker_tls
from services.common.outbox import request_replay
from services.consent.app import ConsentApp
from tests.consent.builders import CONTROLLER, check, grant, register_default_controller, registered_purpose
from tests.consent.fixtures import consent_settings
from tests.support import EventOpener, read_events, secure_channel, unique

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
async def stack(tmp_path_factory, dev_ca, vault):
    run_dir = tmp_path_factory.mktemp("recovery")
    with (PostgresProcess(run_dir / "pg").start() as pg,
          TansuProcess(run_dir / "kafka", tls=broker_tls(dev_ca)).start() as broker):
        pg.create_database("consent")
        app = ConsentApp(consent_settings(run_dir, dev_ca, pg.dsn("consent"), broker, vault))
        await app.start()
        await register_default_controller(dev_ca, app.port)
        channel = secure_channel(dev_ca, app.port, "admin")
        opener = EventOpener(dev_ca, app.port)
        try:
            yield pg, broker, app, consent_pb2_grpc.ConsentServiceStub(channel), opener
        finally:
            await opener.close()
            await channel.close()
            await app.stop()


def subjects_of(events, wanted: set[str]) -> set[str]:
    return {e.subject_id for e in events if e.type == "consent.granted" and e.subject_id in wanted}


async def test_broker_killed_and_restarted_then_outbox_delivers_every_event(stack):
    pg, broker, app, client, opener = stack
    p = await registered_purpose(client)
    before = {unique("before") for _ in range(5)}
    for subject in before:
        await client.GrantConsent(grant(subject, p.purpose_id))
    await read_events(broker, "consent.events", opener=opener, until=lambda evs: subjects_of(evs, before) == before)

    broker.kill()
    during = {unique("during") for _ in range(20)}
    for subject in during:  # grants keep working: the outbox holds their events
        await client.GrantConsent(grant(subject, p.purpose_id))
    broker.restart()
    broker.create_topics(["consent.events"])

    delivered = await read_events(broker, "consent.events", timeout=60, opener=opener,
                                  until=lambda evs: subjects_of(evs, during) == during)
    assert subjects_of(delivered, during) == during

    # The broker's memory storage lost what it had before the kill: a consumer that notices the gap
    # asks for a replay from the outbox, and the sequence shows the stream is complete again.
    replayed = await request_replay(app.pool, from_sequence=1)
    everything = await read_events(broker, "consent.events", timeout=60, opener=opener,
                                   until=lambda evs: subjects_of(evs, before | during) == before | during)
    sequences = sorted({e.sequence for e in everything if e.sequence})  # watermarks carry none
    assert replayed > 0
    assert sequences == list(range(1, sequences[-1] + 1))


async def test_database_restarted_then_service_recovers_and_fails_closed_meanwhile(stack):
    pg, broker, app, client, _ = stack
    p = await registered_purpose(client)
    subject = unique("subj")
    await client.GrantConsent(grant(subject, p.purpose_id))

    pg.kill()
    during_outage = await client.CheckConsent(check(subject, p.purpose_id, CONTROLLER))
    with pytest.raises(Exception) as refused:
        await client.GrantConsent(grant(unique("subj"), p.purpose_id))
    pg.restart()

    assert (during_outage.decision, during_outage.reason) == (pb.DECISION_DENY, pb.DENY_REASON_UNAVAILABLE)
    assert refused.value.code().name == "UNAVAILABLE"
    assert "nothing was changed" in refused.value.details()
    for _ in range(50):  # the pool replaces its broken connections on the next acquire
        answer = await client.CheckConsent(check(subject, p.purpose_id, CONTROLLER))
        if answer.decision == pb.DECISION_ALLOW:
            break
        await asyncio.sleep(0.1)
    assert answer.decision == pb.DECISION_ALLOW
    after = unique("subj")
    await client.GrantConsent(grant(after, p.purpose_id))
    assert (await client.CheckConsent(check(after, p.purpose_id, CONTROLLER))).decision == pb.DECISION_ALLOW
