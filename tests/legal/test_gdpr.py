"""GDPR: what the regulation asks of the platform, one test per requirement."""

import grpc
import pytest

from consentry.dsr.v1 import dsr_pb2 as pb
from services.common.grpc_errors import field_violations
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
