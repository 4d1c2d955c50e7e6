"""Edge validation of keyvault requests. Every request about a subject also names the controller the
subject is a subject of (`controller_id`): a controller's client may leave it empty (its own), and
naming another controller is answered NOT_FOUND like an unknown one; an operator must name it. Each
function returns the controller the call acts in first."""

from services.common import auth
from services.common.validation import Validator
from services.keyvault.domain.model import ReportedReuse
from services.keyvault.service.crypto import MAX_PAYLOAD

MAX_SUBJECTS = 1000


def _acting(controller_id: str) -> tuple[Validator, str]:
    v = Validator()
    return v, auth.acting_controller(controller_id, v)


def subject(controller_id: str, subject_id: str) -> tuple[str, str]:
    v, controller = _acting(controller_id)
    v.identifier("subject_id", subject_id)
    v.done()
    return controller, subject_id


def subject_and_purpose(controller_id: str, subject_id: str, purpose_id: str) -> tuple[str, str, str]:
    v, controller = _acting(controller_id)
    v.identifier("subject_id", subject_id)
    v.identifier("purpose_id", purpose_id)
    v.done()
    return controller, subject_id, purpose_id


def retire(controller_id: str, subject_id: str, purpose_id: str, idempotency_key: str) -> tuple[str, str, str]:
    v, controller = _acting(controller_id)
    v.identifier("subject_id", subject_id)
    v.identifier("purpose_id", purpose_id)
    v.identifier("idempotency_key", idempotency_key)
    v.done()
    return controller, subject_id, purpose_id


def sealed(controller_id: str, subject_id: str, purpose_id: str, field: str, value: bytes) -> tuple[str, str, str]:
    v, controller = _acting(controller_id)
    v.identifier("subject_id", subject_id)
    v.identifier("purpose_id", purpose_id)
    v.check(0 < len(value) <= MAX_PAYLOAD + 64, field, "bytes.len", f"must be 1 to {MAX_PAYLOAD + 64} bytes")
    v.done()
    return controller, subject_id, purpose_id


def plaintext(controller_id: str, subject_id: str, purpose_id: str, value: bytes) -> tuple[str, str, str]:
    v, controller = _acting(controller_id)
    v.identifier("subject_id", subject_id)
    v.identifier("purpose_id", purpose_id)
    v.check(0 < len(value) <= MAX_PAYLOAD, "plaintext", "bytes.len", f"must be 1 to {MAX_PAYLOAD} bytes")
    v.done()
    return controller, subject_id, purpose_id


def shred(controller_id: str, subject_id: str, request_id: str, reason: str, idempotency_key: str) -> str:
    v, controller = _acting(controller_id)
    v.identifier("subject_id", subject_id)
    v.identifier("request_id", request_id)
    v.text("reason", reason, max_len=500)
    v.identifier("idempotency_key", idempotency_key)
    v.done()
    return controller


def subjects(controller_id: str, subject_ids: list[str]) -> tuple[str, list[str]]:
    v, controller = _acting(controller_id)
    v.count("subject_ids", subject_ids, least=1, most=MAX_SUBJECTS)
    for i, s in enumerate(subject_ids[:MAX_SUBJECTS]):
        v.identifier(f"subject_ids[{i}]", s)
    v.done()
    return controller, list(subject_ids)


def rotation(controller_id: str, idempotency_key: str) -> str:
    """The controller whose KEK is rotated (an operator's call: it must name one)."""
    v, controller = _acting(controller_id)
    v.identifier("idempotency_key", idempotency_key)
    v.done()
    return controller


def kek_status(controller_id: str) -> str:
    """The controller whose KEK versions are counted (an operator's call: it must name one)."""
    v, controller = _acting(controller_id)
    v.done()
    return controller


def offboarding(controller_id: str, reason: str, idempotency_key: str) -> str:
    """The controller to offboard (an operator's call: it must name one)."""
    v, controller = _acting(controller_id)
    v.text("reason", reason, max_len=500)
    v.identifier("idempotency_key", idempotency_key)
    v.done()
    return controller


# A certificate is under 2 KiB; the bounds leave room and stop a caller from sending megabytes.
MAX_CERTIFICATE = 16 * 1024
MAX_SIGNATURE = 1024


def certificate(controller_id: str, subject_id: str, certificate_json: bytes, signature: bytes) -> tuple[str, str]:
    v, controller = _acting(controller_id)
    v.identifier("subject_id", subject_id)
    v.check(0 < len(certificate_json) <= MAX_CERTIFICATE, "certificate.certificate_json", "bytes.len",
            f"must be 1 to {MAX_CERTIFICATE} bytes")
    v.check(len(signature) <= MAX_SIGNATURE, "certificate.signature", "bytes.len", f"must be at most {MAX_SIGNATURE} bytes")
    v.done()
    return controller, subject_id


def watch(controller_id: str) -> str:
    v, controller = _acting(controller_id)
    v.done()
    return controller


MAX_REUSE_COUNT = 1_000_000


def reuses(controller_id: str, idempotency_key: str, releases) -> tuple[str, list[ReportedReuse]]:
    """At most one account per subject and purpose: counts are summed before they are sent."""
    v, controller = _acting(controller_id)
    v.identifier("idempotency_key", idempotency_key)
    v.count("releases", releases, least=1, most=MAX_SUBJECTS)
    seen: set[tuple[str, str]] = set()
    for i, r in enumerate(releases[:MAX_SUBJECTS]):
        at = f"releases[{i}]."
        v.identifier(at + "subject_id", r.subject_id)
        v.identifier(at + "purpose_id", r.purpose_id)
        v.identifier(at + "consent_id", r.consent_id)
        v.check(0 < r.count <= MAX_REUSE_COUNT, at + "count", "uint32.range", f"must be 1 to {MAX_REUSE_COUNT}")
        v.check((r.subject_id, r.purpose_id) not in seen, at + "purpose_id", "repeated.unique",
                "one account per subject and purpose")
        seen.add((r.subject_id, r.purpose_id))
    v.done()
    return controller, [ReportedReuse(r.subject_id, r.purpose_id, r.consent_id, r.consent_lapses, r.count)
                        for r in releases]
