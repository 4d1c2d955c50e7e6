"""PIPL: what the law asks of the platform, one test per requirement."""

import grpc

from consentry.consent.v1 import consent_pb2 as pb
from consentry_client import error_info
from tests.consent.builders import check, grant, registered_purpose
from tests.keyvault.test_data_keys import refused
from tests.legal import requirement
from tests.support import unique


@requirement("PIPL 31; Measures Art. 7", "A child under 14 consents only through a guardian, whose identity and"
             " verification are kept on the record")
async def test_pipl_31_child_under_14_needs_guardian(admin, gate):
    # The purpose would let a 13-year-old consent alone; in China the line is 14 all the same.
    p = await registered_purpose(admin, minimum_age=13)
    child = unique("child")
    guardian = pb.Actor(kind=pb.ACTOR_KIND_GUARDIAN, guardian_id=unique("parent"),
                        guardian_verification_ref="id-card-check-7731")

    alone = await refused(gate.GrantConsent, grant(child, p.purpose_id, subject_age=13, jurisdiction="CN"))
    denied = await gate.CheckConsent(check(child, p.purpose_id))
    granted = await gate.GrantConsent(grant(child, p.purpose_id, subject_age=13, jurisdiction="CN", actor=guardian))
    adult = await gate.GrantConsent(grant(unique("subj"), p.purpose_id, subject_age=14, jurisdiction="CN"))
    history = await gate.GetConsentHistory(pb.GetConsentHistoryRequest(subject_id=child, purpose_id=p.purpose_id))

    assert (alone.code(), error_info(alone).reason) == (grpc.StatusCode.FAILED_PRECONDITION, "GUARDIAN_CONSENT_REQUIRED")
    assert error_info(alone).metadata["guardian_age"] == "14"
    assert "minimum age of 13 does not lower" in alone.details()
    assert denied.reason == pb.DENY_REASON_NO_CONSENT
    assert adult.consent.state == pb.CONSENT_STATE_GIVEN
    for record in (granted.consent, history.consent):
        assert (record.actor.kind, record.actor.guardian_id, record.actor.guardian_verification_ref) == (
            pb.ACTOR_KIND_GUARDIAN, guardian.guardian_id, "id-card-check-7731")
    assert [(e.type, e.actor.guardian_id) for e in history.events] == [("consent.granted", guardian.guardian_id)]
