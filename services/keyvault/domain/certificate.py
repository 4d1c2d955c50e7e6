"""Deletion certificate content: what was destroyed, when, why, by which backend. Canonical JSON so
the Ed25519 signature can be verified anywhere with the published public key."""

import json
from datetime import datetime


def build_certificate(certificate_id: str, subject_ref: str, subject_id_sha256: str, backend: str,
                      destroyed: list[dict], destroyed_at: datetime, request_id: str, reason: str,
                      issuer_key_id: str) -> dict:
    return {
        "type": "consentry.keyvault.deletion-certificate.v1",
        "certificateId": certificate_id,
        # The audit log's reference of the subject, computed just before the key was destroyed.
        "subjectRef": subject_ref,
        "subjectIdSha256": subject_id_sha256,
        "backend": backend,
        "keysDestroyed": destroyed,
        "destroyedAt": destroyed_at.isoformat().replace("+00:00", "Z"),
        "requestId": request_id,
        "reason": reason,
        "issuerKeyId": issuer_key_id,
    }


def canonical_bytes(certificate: dict) -> bytes:
    return json.dumps(certificate, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
