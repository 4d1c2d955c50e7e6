"""BIPA: what the Illinois act asks of the platform, one test per requirement."""

import asyncio
from datetime import timedelta

from consentry.consent.v1 import consent_pb2 as pb
from consentry.consent.v1 import consent_pb2_grpc
from services.common.devstack import TansuProcess, broker_tls
from services.consent.app import ConsentApp
from tests.consent.builders import grant, registered_purpose
from tests.consent.fixtures import consent_settings
from tests.legal import requirement
from tests.support import secure_channel, unique


@requirement("BIPA 15(a)", "Consents past their retention expire by themselves: a background sweep, no call needed")
async def test_bipa_15_a_the_expiry_sweep_runs_by_itself(tmp_path, postgres, vault, dev_ca):
    database = unique("consent_sweep").replace("-", "_")
    postgres.create_database(database)
    # A broker of its own: on the session's, a second "consent" producer would confuse the audit's count.
    with TansuProcess(tmp_path / "kafka", tls=broker_tls(dev_ca)).start() as broker:
        settings = consent_settings(tmp_path, dev_ca, postgres.dsn(database), broker, vault)
        settings.expiry_interval_s = 0.5
        app = ConsentApp(settings)
        await app.start()
        channel = secure_channel(dev_ca, app.port, "admin")
        try:
            admin = consent_pb2_grpc.ConsentServiceStub(channel)
            p = await registered_purpose(admin, retention=timedelta(seconds=2))
            subject = unique("subj")
            await admin.GrantConsent(grant(subject, p.purpose_id))
            given = (await admin.ListConsents(pb.ListConsentsRequest(subject_id=subject))).consents[0]

            async def current() -> pb.Consent:
                return (await admin.ListConsents(pb.ListConsentsRequest(subject_id=subject))).consents[0]

            async with asyncio.timeout(15):  # retention 2 s, a sweep every 0.5 s
                while (now := await current()).state != pb.CONSENT_STATE_EXPIRED:  # noqa: ASYNC110 - polls the service
                    await asyncio.sleep(0.2)
            history = await admin.GetConsentHistory(pb.GetConsentHistoryRequest(subject_id=subject,
                                                                                 purpose_id=p.purpose_id))
        finally:
            await channel.close()
            await app.stop()

    assert given.state == pb.CONSENT_STATE_GIVEN
    assert now.state == pb.CONSENT_STATE_EXPIRED
    assert history.events[-1].type == "consent.expired" and history.events[-1].reason == "retention"
