"""Completeness when the broker loses data: events published while audit was not reading are gone
with the broker's memory. Audit sees the hole in the consent service's sequence, asks it to publish
again from its outbox, and reports the producer complete once more. Runs its own broker, consent
service and audit service, since it kills the broker."""

import asyncio

import pytest

from consentry.audit.v1 import audit_pb2 as pb
from consentry.audit.v1 import audit_pb2_grpc
from consentry.consent.v1 import consent_pb2_grpc
from services.audit.app import AuditApp
from consentry_dev.launchers import TansuProcess, broker_tls
from services.consent.app import ConsentApp
from tests.audit.fixtures import audit_settings, provisioned
from tests.consent.builders import grant, register_default_controller, registered_purpose
from tests.consent.fixtures import consent_settings
from tests.support import secure_channel, unique

pytestmark = [pytest.mark.slow, pytest.mark.parametrize("backend", ["wrapped"], indirect=True, scope="session")]


async def completeness(dpo) -> pb.ProducerCompleteness | None:
    report = await dpo.GetCompleteness(pb.GetCompletenessRequest())
    return next((p for p in report.producers if p.producer == "consent"), None)


async def wait_for(condition, timeout: float):  # noqa: ASYNC109 - polls a service
    async with asyncio.timeout(timeout):
        while not (found := await condition()):  # noqa: ASYNC110 - polls another process
            await asyncio.sleep(0.2)
    return found


async def test_events_the_broker_lost_are_found_missing_and_published_again(
        tmp_path, postgres, vault, audit_vault_token, dev_ca, keyvault_app, backend):
    database = unique("audit").replace("-", "_")
    await provisioned(postgres, database)
    consent_db = unique("consent").replace("-", "_")
    postgres.create_database(consent_db)
    with TansuProcess(tmp_path / "kafka", tls=broker_tls(dev_ca)).start() as broker:
        consent = ConsentApp(consent_settings(tmp_path, dev_ca, postgres.dsn(consent_db), broker, vault))
        await consent.start()
        await register_default_controller(dev_ca, consent.port)
        settings = audit_settings(tmp_path, dev_ca, postgres, database, broker, keyvault_app.port,
                                  vault.address, audit_vault_token, topics=("consent.events",),
                                  producers={"consent": consent.port})
        audit = AuditApp(settings)
        await audit.start()
        channels = [secure_channel(dev_ca, consent.port, "admin"), secure_channel(dev_ca, audit.port, "dpo")]
        admin, dpo = consent_pb2_grpc.ConsentServiceStub(channels[0]), audit_pb2_grpc.AuditServiceStub(channels[1])
        try:
            purpose = (await registered_purpose(admin)).purpose_id
            for _ in range(3):
                await admin.GrantConsent(grant(unique("subj"), purpose))
            seen = await wait_for(lambda: _complete_beyond(dpo, 3), 20)

            await audit.stop()  # audit away: these events exist only in the broker ...
            for _ in range(4):
                await admin.GrantConsent(grant(unique("subj"), purpose))
            await asyncio.sleep(1.0)  # ... once the relay published them
            broker.kill()  # ... and now nowhere but in the consent service's outbox
            broker.restart()
            broker.create_topics(["consent.events"])
            audit = AuditApp(settings)
            await audit.start()
            channels.append(secure_channel(dev_ca, audit.port, "dpo"))
            dpo = audit_pb2_grpc.AuditServiceStub(channels[-1])
            for _ in range(2):
                await admin.GrantConsent(grant(unique("subj"), purpose))

            gap = await wait_for(lambda: _gap(dpo), 30)
            # Every event: the gap may be seen before the last of the two new events has arrived.
            healed = await wait_for(lambda: _complete_beyond(dpo, seen.complete_up_to + 5), 60)
        finally:
            for channel in channels:
                await channel.close()
            await audit.stop()
            await consent.stop()

    assert gap.complete_up_to == seen.complete_up_to and gap.missing >= 4
    assert healed.missing == 0 and healed.complete_up_to >= seen.complete_up_to + 6
    assert healed.HasField("replay_requested_at")


async def _complete_beyond(dpo, sequence: int) -> pb.ProducerCompleteness | None:
    found = await completeness(dpo)
    return found if found and found.complete_up_to > sequence and found.missing == 0 else None


async def _gap(dpo) -> pb.ProducerCompleteness | None:
    found = await completeness(dpo)
    return found if found and found.missing > 0 else None
