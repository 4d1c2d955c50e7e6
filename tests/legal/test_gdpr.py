"""GDPR: what the regulation asks of the platform, one test per requirement."""

import grpc
import pytest

from consentry.consent.v1 import consent_pb2 as cpb
from consentry.dsr.v1 import dsr_pb2 as pb
from consentry_client import error_info
from services.common.grpc_errors import field_violations
from tests.consent.builders import grant, registered_purpose
from tests.dsr.test_requests import submission
from tests.keyvault.test_data_keys import refused
from tests.legal import requirement
from tests.support import unique

pytestmark = pytest.mark.parametrize("backend", ["wrapped"], scope="session")


@requirement("GDPR 12(4); PIPL 50", "A refusal gives a reason code, an explanation and a complaint route")
async def test_gdpr_12_4_a_refusal_gives_reasons_and_a_complaint_route(operator, backend):
    r = (await operator.SubmitRequest(submission(unique("subj")))).request

    bare = await refused(operator.RejectRequest, pb.RejectRequestRequest(
        request_id=r.request_id, idempotency_key=unique("idem")))
    rejected = await operator.RejectRequest(pb.RejectRequestRequest(
        request_id=r.request_id, idempotency_key=unique("idem"), reason=pb.RejectionReason(
            code="manifestly-unfounded", explanation="the same request was answered last week",
            complaint_route="Berliner Beauftragte für Datenschutz")))

    assert bare.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert {f for f, _ in field_violations(bare)} == {"reason.code", "reason.explanation", "reason.complaint_route"}
    assert rejected.request.status == pb.REQUEST_STATUS_REJECTED
    assert rejected.request.rejection.complaint_route == "Berliner Beauftragte für Datenschutz"


@requirement("GDPR 8(1)", "A child below the age its member state sets (13 to 16) consents only through a guardian")
async def test_gdpr_8_child_below_the_member_states_age_needs_guardian(admin, gate, backend):
    p = await registered_purpose(admin)

    in_germany = await refused(gate.GrantConsent, grant(unique("teen"), p.purpose_id, subject_age=15, jurisdiction="DE"))
    in_france = await gate.GrantConsent(grant(unique("teen"), p.purpose_id, subject_age=15, jurisdiction="FR"))

    assert (in_germany.code(), error_info(in_germany).reason) == (grpc.StatusCode.FAILED_PRECONDITION,
                                                                  "GUARDIAN_CONSENT_REQUIRED")
    assert error_info(in_germany).metadata["guardian_age"] == "16"
    assert (in_france.consent.state, in_france.consent.actor.kind) == (cpb.CONSENT_STATE_GIVEN, cpb.ACTOR_KIND_SUBJECT)
