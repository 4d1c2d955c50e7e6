"""BIPA: what the Illinois act asks of the platform, one test per requirement."""

import json
import grpc
from consentry.consent.v1 import consent_pb2 as pb
from consentry_client import error_info
from tests.consent.builders import CONTROLLER, grant, register_default_controller, registered_purpose
from tests.keyvault.test_data_keys import refused
from tests.legal import requirement
from tests.support import unique
import asyncio
from datetime import timedelta
from consentry.consent.v1 import consent_pb2_grpc
from consentry_dev.launchers import TansuProcess, broker_tls
from services.consent.app import ConsentApp
from tests.consent.fixtures import consent_settings
from tests.support import secure_channel


@requirement("BIPA 15(b)", "In Illinois a grant needs a written release signed by the subject, and the record keeps"
             " its reference")
async def test_bipa_15b_grant_needs_a_signed_written_release(admin, gate):
    p = await registered_purpose(admin)
    subject = unique("subj")
    release = unique("esign-envelope")

    tapped = await refused(gate.GrantConsent, grant(subject, p.purpose_id, jurisdiction="US-IL",
                                                    collection_method=pb.COLLECTION_METHOD_APP_SCREEN))
    unnamed = await refused(gate.GrantConsent, grant(subject, p.purpose_id, jurisdiction="US-IL",
                                                     collection_method=pb.COLLECTION_METHOD_E_SIGNATURE, evidence_ref=""))
    listed_before = await gate.ListConsents(pb.ListConsentsRequest(subject_id=subject))
    signed = await gate.GrantConsent(grant(subject, p.purpose_id, jurisdiction="US-IL",
                                           collection_method=pb.COLLECTION_METHOD_E_SIGNATURE, evidence_ref=release))
    listed = await gate.ListConsents(pb.ListConsentsRequest(subject_id=subject))
    elsewhere = await gate.GrantConsent(grant(unique("subj"), p.purpose_id, jurisdiction="US-CA"))

    for refusal in (tapped, unnamed):
        assert (refusal.code(), error_info(refusal).reason) == (grpc.StatusCode.FAILED_PRECONDITION,
                                                                "WRITTEN_RELEASE_REQUIRED")
    assert not listed_before.consents
    assert [(c.evidence_ref, c.collection_method) for c in listed.consents] == [
        (release, pb.COLLECTION_METHOD_E_SIGNATURE)]
    assert json.loads(signed.receipt.receipt_json)["evidenceRef"] == release
    assert elsewhere.consent.state == pb.CONSENT_STATE_GIVEN


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
        await register_default_controller(dev_ca, app.port)
        channel = secure_channel(dev_ca, app.port, "admin")
        try:
            admin = consent_pb2_grpc.ConsentServiceStub(channel)
            p = await registered_purpose(admin, retention=timedelta(seconds=2))
            subject = unique("subj")
            await admin.GrantConsent(grant(subject, p.purpose_id))
            at_campus = pb.ListConsentsRequest(subject_id=subject, controller_id=CONTROLLER)
            given = (await admin.ListConsents(at_campus)).consents[0]

            async def current() -> pb.Consent:
                return (await admin.ListConsents(at_campus)).consents[0]

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
    assert history.events[-1].event_type == pb.CONSENT_EVENT_TYPE_EXPIRED and history.events[-1].reason == "retention"
