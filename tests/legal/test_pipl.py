"""PIPL: what the law asks of the platform, one test per requirement."""

import json

import grpc
from consentry_client import error_info
from tests.consent.builders import check, grant, registered_purpose
from tests.keyvault.test_data_keys import refused
from tests.legal import requirement
from tests.support import unique
from consentry.consent.v1 import consent_pb2 as cpb
from datetime import UTC
import pytest
from consentry.dsr.v1 import dsr_pb2 as pb
from consentry.dsr.v1 import dsr_pb2_grpc
from consentry_dev.launchers import TansuProcess, broker_tls
from services.common.grpc_errors import field_violations
from services.dsr.app import DsrApp
from tests.consent.builders import purpose
from tests.dsr.fixtures import dsr_settings
from tests.dsr.test_requests import submission
from tests.legal.test_ccpa import business_days_between
from tests.support import Clients, erasure_key

pytestmark = pytest.mark.parametrize("backend", ["wrapped"], indirect=True, scope="session")


@requirement("PIPL 31; Measures Art. 7", "A child under 14 consents only through a guardian, whose identity and"
             " verification are kept on the record")
async def test_pipl_31_child_under_14_needs_guardian(admin, gate, backend):
    # The purpose would let a 13-year-old consent alone; in China the line is 14 all the same.
    p = await registered_purpose(admin, minimum_age=13)
    child = unique("child")
    guardian = cpb.Actor(kind=cpb.ACTOR_KIND_GUARDIAN, guardian_id=unique("parent"),
                        guardian_verification_ref="id-card-check-7731")

    alone = await refused(gate.GrantConsent, grant(child, p.purpose_id, subject_age=13, jurisdiction="CN"))
    denied = await gate.CheckConsent(check(child, p.purpose_id))
    granted = await gate.GrantConsent(grant(child, p.purpose_id, subject_age=13, jurisdiction="CN", actor=guardian))
    adult = await gate.GrantConsent(grant(unique("subj"), p.purpose_id, subject_age=14, jurisdiction="CN"))
    history = await gate.GetConsentHistory(cpb.GetConsentHistoryRequest(subject_id=child, purpose_id=p.purpose_id))

    assert (alone.code(), error_info(alone).reason) == (grpc.StatusCode.FAILED_PRECONDITION, "GUARDIAN_CONSENT_REQUIRED")
    assert error_info(alone).metadata["guardian_age"] == "14"
    assert "minimum age of 13 does not lower" in alone.details()
    assert denied.reason == cpb.DENY_REASON_NO_CONSENT
    assert adult.consent.state == cpb.CONSENT_STATE_GIVEN
    for record in (granted.consent, history.consent):
        assert (record.actor.kind, record.actor.guardian_id, record.actor.guardian_verification_ref) == (
            cpb.ACTOR_KIND_GUARDIAN, guardian.guardian_id, "id-card-check-7731")
    assert [(e.event_type, e.actor.guardian_id) for e in history.events] == [(cpb.CONSENT_EVENT_TYPE_GRANTED, guardian.guardian_id)]


@requirement("PIPL 50", "China's deadline is the configured number of working days (15 by default)")
async def test_pipl_50_the_configured_china_deadline_is_the_one_used(
        tmp_path, monkeypatch, postgres, vault, dev_ca, consent_app, keyvault_app, audit_app, operator, backend):
    database = unique("dsr_config").replace("-", "_")
    postgres.create_database(database)
    monkeypatch.setenv("CONSENTRY_DSR_CHINA_WORKING_DAYS", "30")
    # A broker of its own: in the session's, it would share the consumer group of the session's dsr.
    with TansuProcess(tmp_path / "kafka", tls=broker_tls(dev_ca)).start() as broker:
        settings = dsr_settings(tmp_path, dev_ca, postgres.dsn(database), broker,
                                {"consent": consent_app.port, "keyvault": keyvault_app.port, "audit": audit_app.port},
                                erasure=erasure_key(vault, "dsr"))
        configured = DsrApp(settings)
        await configured.start()
        clients = Clients(dev_ca, configured.port, dsr_pb2_grpc.DsrServiceStub)
        try:
            r = (await clients("operator").SubmitRequest(submission(unique("subj"), jurisdiction="CN"))).request
        finally:
            await clients.close()
            await configured.stop()
    default = (await operator.SubmitRequest(submission(unique("subj"), jurisdiction="CN"))).request

    def working_days(request: pb.Request) -> int:
        return business_days_between(request.received_at.ToDatetime(UTC), request.due_at.ToDatetime(UTC))

    assert settings.china_working_days == 30
    assert working_days(r) == 30 and r.due_at.ToDatetime().weekday() < 5
    assert working_days(default) == 15
    assert r.timeline[0].note == "due under PIPL Art. 50 (regulator's practice)"


@requirement("PIPL 55; Measures Art. 9", "A purpose is registered only with the reference of its impact assessment (PIA)")
async def test_pipl_55_a_purpose_without_a_pia_reference_is_refused(admin, backend):
    assessed, unassessed = purpose(pia_reference="PIA-2026-031"), purpose(pia_reference="")

    await admin.RegisterPurpose(cpb.RegisterPurposeRequest(purpose=assessed, idempotency_key=unique("reg")))
    error = await refused(admin.RegisterPurpose, cpb.RegisterPurposeRequest(purpose=unassessed,
                                                                            idempotency_key=unique("reg")))
    missing = await refused(admin.GetPurpose, cpb.GetPurposeRequest(purpose_id=unassessed.purpose_id))
    registered = (await admin.GetPurpose(cpb.GetPurposeRequest(purpose_id=assessed.purpose_id))).purpose

    assert registered.pia_reference == "PIA-2026-031"
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert [f for f, _ in field_violations(error)] == ["purpose.pia_reference"]
    assert missing.code() == grpc.StatusCode.NOT_FOUND


@requirement("PIPL 16; Measures Art. 10", "A purpose names its non-face alternative, and every consent and receipt records whether it was offered")
async def test_pipl_16_a_non_face_alternative_is_named_and_its_offer_recorded(admin, gate, backend):
    without = purpose(non_face_alternative="")
    refusal = await refused(admin.RegisterPurpose, cpb.RegisterPurposeRequest(purpose=without,
                                                                              idempotency_key=unique("reg")))
    p = await registered_purpose(admin, non_face_alternative="Badge at the reception desk")
    offered = await gate.GrantConsent(grant(unique("subj"), p.purpose_id, alternative_offered=True))
    not_offered = await gate.GrantConsent(grant(unique("subj"), p.purpose_id, alternative_offered=False))

    assert refusal.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert ("purpose.non_face_alternative", "required") in field_violations(refusal)
    assert (offered.consent.alternative_offered, not_offered.consent.alternative_offered) == (True, False)
    receipts = [json.loads(g.receipt.receipt_json) for g in (offered, not_offered)]
    assert [(r["nonFaceAlternative"], r["alternativeOffered"]) for r in receipts] == [
        ("Badge at the reception desk", True), ("Badge at the reception desk", False)]
