"""Deletion certificate content: what was destroyed, when, why, by which backend. Canonical JSON so
the Ed25519 signature can be verified anywhere with the published public key.

The certificate names the person only by their keyed tag (HMAC-SHA256 under the erasure key): a
plain hash of a guessable id would name them to anyone. Whoever holds the id asks keyvault, which
alone can compute the tag, whether a certificate concerns it (VerifyCertificate).

The tag is of the subject at one controller, and the certificate names that controller
(`controllerId`, signed with the rest): the same person at another controller was not erased.
Certificates issued before controllers name none: theirs is the default controller."""

import hashlib
import hmac
import json
from datetime import datetime

TYPE = "consentry.keyvault.deletion-certificate.v2"
# Issued before v2, named the subject by an unkeyed SHA-256 (subjectIdSha256); still verified.
TYPE_V1 = "consentry.keyvault.deletion-certificate.v1"
# One for a whole controller: every key of its subjects destroyed at once (offboarding).
OFFBOARDING_TYPE = "consentry.keyvault.controller-offboarding-certificate.v1"


def build_certificate(certificate_id: str, subject_ref: str, subject_tag: str, backend: str,
                      destroyed: list[dict], destroyed_at: datetime, request_id: str, reason: str,
                      issuer_key_id: str, controller_id: str) -> dict:
    return {
        "type": TYPE,
        "certificateId": certificate_id,
        "controllerId": controller_id,
        # The audit log's reference of the subject, computed just before the key was destroyed.
        "subjectRef": subject_ref,
        "subjectTag": subject_tag,
        "backend": backend,
        "keysDestroyed": destroyed,
        "destroyedAt": destroyed_at.isoformat().replace("+00:00", "Z"),
        "requestId": request_id,
        "reason": reason,
        "issuerKeyId": issuer_key_id,
    }


def build_offboarding_certificate(certificate_id: str, controller_id: str, backend: str, destroyed: list[dict],
                                  subject_keys: int, destroyed_at: datetime, reason: str, issuer_key_id: str) -> dict:
    """Names the controller and what was destroyed in Vault; no subject."""
    return {
        "type": OFFBOARDING_TYPE,
        "certificateId": certificate_id,
        "controllerId": controller_id,
        "backend": backend,
        "keysDestroyed": destroyed,
        "subjectKeysDestroyed": subject_keys,
        "destroyedAt": destroyed_at.isoformat().replace("+00:00", "Z"),
        "reason": reason,
        "issuerKeyId": issuer_key_id,
    }


def canonical_bytes(certificate: dict) -> bytes:
    return json.dumps(certificate, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def names_subject(certificate: dict, subject_id: str, subject_tag: str, controller_id: str,
                  default_controller: bool) -> bool:
    """Whether the certificate is about this subject of this controller (`subject_tag`: the subject's
    tag at that controller; `default_controller`: whether that controller's subjects are those from
    before controllers). One naming no controller predates controllers: its tag decides, and a v1
    one (an unkeyed hash of the id) concerns only the default controller's subject."""
    named_controller = certificate.get("controllerId", controller_id)
    if not isinstance(named_controller, str) or not hmac.compare_digest(named_controller.encode(),
                                                                         controller_id.encode()):
        return False
    if certificate.get("type") == OFFBOARDING_TYPE:  # every subject of the controller named above
        return "controllerId" in certificate
    if certificate.get("type") == TYPE:
        named, expected = certificate.get("subjectTag"), subject_tag
    elif certificate.get("type") == TYPE_V1 and default_controller:
        named, expected = certificate.get("subjectIdSha256"), hashlib.sha256(subject_id.encode()).hexdigest()
    else:
        return False
    return isinstance(named, str) and hmac.compare_digest(named.encode(), expected.encode())
