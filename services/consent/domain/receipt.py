"""Consent receipt content: the fields of ISO/IEC TS 27560:2023 and Kantara Consent Receipt 1.1,
as canonical JSON so a signature over the bytes can be checked anywhere; and the reading of such a
receipt back into what a person is shown of it."""

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import Enum
from typing import TypeVar
from uuid import UUID, uuid5

from services.consent.domain.controller import Controller
from services.consent.domain.errors import ReceiptMalformed
from services.consent.domain.model import (
    ActorKind, CollectionMethod, Consent, DataCategory, LegalBasis, Notice, Purpose, StorageLocation,
)

RECEIPT_VERSION = "KI-CR-v1.1.0"
# Receipt ids are derived from the grant, so a receipt issued again is, byte for byte, the one given at
# the grant (while the purpose and its controller read as they did then).
_RECEIPT_IDS = UUID("5f0c6a3e-2d7b-4b8e-9a51-6c1f0e8d2b47")


def _iso(at: datetime) -> str:
    return at.isoformat().replace("+00:00", "Z")


def controller_entry(controller_id: str, controller: Controller | None) -> dict:
    """Kantara CR 1.1 piiControllers[]: the legal name, and the contact point (email or phone, and as
    `contact`) and address where registered; the id under which the platform knows it beside them."""
    if controller is None:  # a purpose's controller is always registered; its id is what there is to say
        return {"piiController": controller_id, "piiControllerId": controller_id}
    entry = {"piiController": controller.legal_name, "piiControllerId": controller.controller_id}
    if controller.address:
        entry["address"] = controller.address
    if controller.contact:
        entry["contact"] = controller.contact
        entry["email" if controller.contact_is_email else "phone"] = controller.contact
    return entry


def receipt_id(consent: Consent) -> str:
    """The receipt id of a grant: one per consent record and moment of granting."""
    return str(uuid5(_RECEIPT_IDS, f"{consent.consent_id}/{consent.granted_at.isoformat()}"))


def build_receipt(consent: Consent, purpose: Purpose, notice: Notice, controller: Controller | None = None) -> dict:
    return {
        "version": RECEIPT_VERSION,
        "consentReceiptID": receipt_id(consent),
        "consentId": consent.consent_id,
        "jurisdiction": consent.jurisdiction,
        "consentTimestamp": int(consent.granted_at.timestamp()),
        "eventTime": _iso(consent.granted_at),
        "eventState": consent.state.name.lower(),
        "collectionMethod": consent.collection_method.name.lower(),
        "language": consent.notice_language,
        "piiPrincipalId": consent.subject_id,
        "piiControllers": [controller_entry(purpose.controller_id, controller)],
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


@dataclass(frozen=True)
class ReceiptController:
    """A controller as a receipt names it. A receipt signed before controllers were registered has the
    id alone, as its name, and no address or contact."""

    name: str
    controller_id: str
    address: str = ""
    contact: str = ""


@dataclass(frozen=True)
class ReceiptContent:
    """What a receipt says, read back from its JSON (Kantara CR 1.1 section 4.7 lists what a person
    is shown). Free texts are the controller's own words, in the language it registered them in."""

    receipt_id: str
    consent_id: str
    subject_id: str
    jurisdiction: str
    language: str
    controllers: tuple[ReceiptController, ...]
    purpose_id: str
    purpose_name: str
    notice_version: int
    notice_language: str
    notice_sha256: str
    data_categories: tuple[DataCategory, ...]
    legal_basis: LegalBasis
    storage_location: StorageLocation
    third_parties: tuple[str, ...]
    given_at: datetime
    valid_until: datetime
    collection_method: CollectionMethod
    actor: ActorKind
    guardian_id: str
    withdrawal_method: str
    non_face_alternative: str
    alternative_offered: bool


def _at(document: object, path: str, kind: type):
    """The value at a dotted path ("services.0.service"), which must be of `kind`."""
    value = document
    for step in path.split("."):
        if isinstance(value, list) and step.isdigit() and int(step) < len(value):
            value = value[int(step)]
        elif isinstance(value, dict) and step in value:
            value = value[step]
        else:
            raise ReceiptMalformed(f"{path} is missing")
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise ReceiptMalformed(f"{path} must be a {kind.__name__}")
    return value


def _optional(document: object, path: str) -> str:
    """The text at a path a receipt may leave out; "" when it does."""
    try:
        return _at(document, path, str)
    except ReceiptMalformed:
        if _present(document, path):
            raise
        return ""


def _present(document: object, path: str) -> bool:
    head, _, last = path.rpartition(".")
    parent = _at(document, head, dict) if head else document
    return isinstance(parent, dict) and last in parent


def _controller(document: dict, i: int) -> ReceiptController:
    path = f"piiControllers.{i}"
    name = _at(document, f"{path}.piiController", str)
    return ReceiptController(name=name, controller_id=_optional(document, f"{path}.piiControllerId") or name,
                             address=_optional(document, f"{path}.address"),
                             contact=_optional(document, f"{path}.contact"))


def _texts(document: dict, path: str) -> tuple[str, ...]:
    items = _at(document, path, list)
    if not all(isinstance(item, str) for item in items):
        raise ReceiptMalformed(f"{path} must hold only strings")
    return tuple(items)


E = TypeVar("E", bound=Enum)


def _member(path: str, code: str, enum: type[E]) -> E:
    """The member a receipt names in lower case ("face_template": DataCategory.FACE_TEMPLATE)."""
    try:
        return enum[code.upper()]
    except KeyError:
        raise ReceiptMalformed(f"{path} '{code}' is not a known value") from None


def _time(document: dict, path: str) -> datetime:
    try:
        at = datetime.fromisoformat(_at(document, path, str))
    except ValueError:
        raise ReceiptMalformed(f"{path} must be an ISO 8601 time") from None
    if at.tzinfo is None:
        raise ReceiptMalformed(f"{path} must state its offset from UTC")
    return at.astimezone(UTC)


def read_receipt(receipt_json: bytes) -> ReceiptContent:
    """The receipt's content; ReceiptMalformed, naming the first field at fault, when it is not a receipt
    of RECEIPT_VERSION with one service and one purpose (one consent per purpose: no bundling)."""
    try:
        document = json.loads(receipt_json.decode())
    except (ValueError, RecursionError):  # UnicodeDecodeError and JSONDecodeError are ValueErrors
        raise ReceiptMalformed("not UTF-8 JSON") from None
    if not isinstance(document, dict):
        raise ReceiptMalformed("not a JSON object")
    if _at(document, "version", str) != RECEIPT_VERSION:
        raise ReceiptMalformed(f"version must be {RECEIPT_VERSION}")
    if len(_at(document, "services", list)) != 1 or len(_at(document, "services.0.purposes", list)) != 1:
        raise ReceiptMalformed("a receipt names exactly one service and one purpose")
    controllers = _at(document, "piiControllers", list)
    purpose = "services.0.purposes.0"

    def member(path: str, enum: type[E]) -> E:
        return _member(path, _at(document, path, str), enum)
    return ReceiptContent(
        receipt_id=_at(document, "consentReceiptID", str), consent_id=_at(document, "consentId", str),
        subject_id=_at(document, "piiPrincipalId", str), jurisdiction=_at(document, "jurisdiction", str),
        language=_at(document, "language", str),
        controllers=tuple(_controller(document, i) for i in range(len(controllers))),
        purpose_id=_at(document, f"{purpose}.purpose", str), purpose_name=_at(document, "services.0.service", str),
        notice_version=_at(document, "notice.version", int), notice_language=_at(document, "notice.language", str),
        notice_sha256=_at(document, "notice.sha256", str),
        data_categories=tuple(_member(f"{purpose}.piiCategory", c, DataCategory)
                              for c in _texts(document, f"{purpose}.piiCategory")),
        legal_basis=member(f"{purpose}.legalBasis", LegalBasis),
        storage_location=member(f"{purpose}.storageLocation", StorageLocation),
        third_parties=_texts(document, f"{purpose}.thirdPartyName"),
        given_at=_time(document, "eventTime"), valid_until=_time(document, "validity.until"),
        collection_method=member("collectionMethod", CollectionMethod),
        actor=member("actor.kind", ActorKind), guardian_id=_at(document, "actor.guardianId", str),
        withdrawal_method=_at(document, "withdrawalMethod", str),
        non_face_alternative=_at(document, "nonFaceAlternative", str),
        alternative_offered=_at(document, "alternativeOffered", bool),
    )
