"""Consent receipt content: the fields of ISO/IEC TS 27560:2023 and Kantara Consent Receipt 1.1,
as canonical JSON so a signature over the bytes can be checked anywhere."""

import json
from datetime import datetime

from services.consent.domain.model import Consent, Notice, Purpose

RECEIPT_VERSION = "KI-CR-v1.1.0"


def _iso(at: datetime) -> str:
    return at.isoformat().replace("+00:00", "Z")


def build_receipt(receipt_id: str, consent: Consent, purpose: Purpose, notice: Notice) -> dict:
    return {
        "version": RECEIPT_VERSION,
        "consentReceiptID": receipt_id,
        "consentId": consent.consent_id,
        "jurisdiction": consent.jurisdiction,
        "consentTimestamp": int(consent.granted_at.timestamp()),
        "eventTime": _iso(consent.granted_at),
        "eventState": consent.state.name.lower(),
        "collectionMethod": consent.collection_method.name.lower(),
        "language": consent.notice_language,
        "piiPrincipalId": consent.subject_id,
        "piiControllers": [{"piiController": purpose.controller_id}],
        "notice": {
            "purposeId": purpose.purpose_id,
            "version": notice.version,
            "language": notice.language,
            "sha256": notice.content_hash,
        },
        "services": [{
            "service": purpose.name,
            "purposes": [{
                "purpose": purpose.purpose_id,
                "consentType": "EXPLICIT",
                "legalBasis": purpose.legal_basis.name.lower(),
                "piiCategory": [c.name.lower() for c in purpose.data_categories],
                "primaryPurpose": True,
                "storageLocation": purpose.storage_location.name.lower(),
                "termination": f"P{purpose.retention.days}D" if purpose.retention.days else
                               f"PT{int(purpose.retention.total_seconds())}S",
                "thirdPartyDisclosure": bool(purpose.recipients),
                "thirdPartyName": list(purpose.recipients),
            }],
        }],
        "sensitive": True,
        "spiCat": ["biometric"],
        "withdrawalMethod": purpose.withdrawal_method,
        "nonFaceAlternative": purpose.non_face_alternative,
        "alternativeOffered": consent.alternative_offered,
        "actor": {
            "kind": consent.actor.kind.name.lower(),
            "guardianId": consent.actor.guardian_id,
            "guardianVerificationRef": consent.actor.guardian_verification_ref,
        },
        "evidenceRef": consent.evidence_ref,
        "validity": {"from": _iso(consent.granted_at), "until": _iso(consent.expires_at)},
        "piaReference": purpose.pia_reference,
    }


def canonical_bytes(receipt: dict) -> bytes:
    return json.dumps(receipt, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
