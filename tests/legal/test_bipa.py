"""BIPA: what the Illinois act asks of the platform, one test per requirement."""

import json

import grpc

from consentry.consent.v1 import consent_pb2 as pb
from consentry_client import error_info
from tests.consent.builders import grant, registered_purpose
from tests.keyvault.test_data_keys import refused
from tests.legal import requirement
from tests.support import unique


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
