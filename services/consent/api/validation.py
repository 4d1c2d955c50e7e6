"""Edge validation: each request becomes a command or an InvalidArgument naming every bad field."""

import re
from dataclasses import replace
from datetime import UTC, datetime, timedelta

from consentry.consent.v1 import consent_admin_pb2 as admin_pb
from consentry.consent.v1 import consent_pb2 as pb
from services.common import auth
from services.common.validation import JURISDICTION, LANGUAGE_TAG, SHA256_HEX, Validator, present
from services.consent.api.mapping import actor_from_pb, purpose_from_pb
from services.consent.api.receipt_page import LANGUAGES
from services.consent.domain import commands
from services.consent.domain.controller import Controller
from services.consent.domain.model import CollectionMethod

_DATA_CATEGORIES = pb.DataCategory.values()
_MAX_TEXT = 100_000
MAX_BATCH = 1000
MAX_RECIPIENTS = 100
MAX_LANGUAGES = 50
# Long enough for any stated retention, short enough that every expiry date is a date.
MAX_RETENTION = timedelta(days=100 * 365)
# The largest receipt the service signs is under 30 KiB (the purpose's texts, 100 recipients); most are ~2 KiB.
MAX_RECEIPT_JSON = 64 * 1024
ED25519_SIGNATURE_BYTES = 64
# Every list of the service (see the paging note in consent.proto).
DEFAULT_PAGE, MAX_PAGE = 100, 1000
# A controller's contact point: an e-mail address, or a telephone number (digits, an optional leading +,
# spaces, dashes and parentheses).
CONTACT = re.compile(r"[^@\s]{1,64}@[^@\s]+\.[^@\s]+|\+?[0-9(][0-9 ()\-]{4,30}[0-9]")
MAX_CONTACT = 200

def _idempotency_key(v: Validator, key: str) -> None:
    v.identifier("idempotency_key", key)

def _actor(v: Validator, field: str, actor: pb.Actor) -> None:
    v.enum(f"{field}.kind", actor.kind, pb.ActorKind.values())
    if actor.kind == pb.ACTOR_KIND_GUARDIAN:
        v.identifier(f"{field}.guardian_id", actor.guardian_id)
        v.identifier(f"{field}.guardian_verification_ref", actor.guardian_verification_ref)
    elif actor.guardian_id or actor.guardian_verification_ref:
        v.fail(f"{field}.guardian_id", "actor.guardian_only", "only a GUARDIAN actor names a guardian")

def register_controller(req: admin_pb.RegisterControllerRequest) -> commands.RegisterController:
    v, c = Validator(), req.controller
    v.identifier("controller.controller_id", c.controller_id)
    v.text("controller.legal_name", c.legal_name, max_len=200)
    v.text("controller.address", c.address, max_len=500)
    if len(c.contact) > MAX_CONTACT:
        v.fail("controller.contact", "string.max_len", f"must be at most {MAX_CONTACT} characters")
    else:
        v.matches("controller.contact", c.contact, CONTACT, "an e-mail address or a telephone number")
    v.matches("controller.jurisdiction", c.jurisdiction, JURISDICTION, "an ISO 3166 code such as CN, EU or US-IL")
    # created_at is the service's to set: ignored here, as a purpose's is.
    _idempotency_key(v, req.idempotency_key)
    v.done()
    return commands.RegisterController(Controller(c.controller_id, c.legal_name, c.address, c.contact,
                                                  c.jurisdiction))

def register_purpose(req: pb.RegisterPurposeRequest, acting_for: str | None) -> commands.RegisterPurpose:
    """`acting_for`: the caller's controller, which an empty controller_id means; None for an operator,
    who must name one."""
    v, p = Validator(), req.purpose
    v.identifier("purpose.purpose_id", p.purpose_id)
    if p.controller_id or acting_for is None:
        v.identifier("purpose.controller_id", p.controller_id)
    v.text("purpose.name", p.name, max_len=200)
    v.text("purpose.description", p.description, max_len=4000, required=False)
    if not p.data_categories:
        v.fail("purpose.data_categories", "repeated.min_items", "at least one data category is required")
    for i, c in enumerate(p.data_categories):
        v.enum(f"purpose.data_categories[{i}]", c, _DATA_CATEGORIES)
    v.check(len(set(p.data_categories)) == len(p.data_categories), "purpose.data_categories",
            "repeated.unique", "categories must not repeat")
    v.enum("purpose.storage_location", p.storage_location, pb.StorageLocation.values())
    v.enum("purpose.legal_basis", p.legal_basis, pb.LegalBasis.values())
    v.duration("purpose.retention", present(p, "retention"), shortest=timedelta(seconds=1), longest=MAX_RETENTION)
    v.text("purpose.non_face_alternative", p.non_face_alternative, max_len=1000)
    v.check(p.minimum_age <= 21, "purpose.minimum_age", "uint32.lte", "must be at most 21")
    v.text("purpose.pia_reference", p.pia_reference, max_len=200)
    v.text("purpose.withdrawal_method", p.withdrawal_method, max_len=1000, required=False)
    v.count("purpose.recipients", p.recipients, most=MAX_RECIPIENTS)
    for i, r in enumerate(p.recipients[:MAX_RECIPIENTS]):
        v.identifier(f"purpose.recipients[{i}]", r)
    v.check(not p.current_notice_version, "purpose.current_notice_version", "field.output_only",
            "is set by the service")
    _idempotency_key(v, req.idempotency_key)
    v.done()
    # minimum_age may only raise the guardian line of a grant's jurisdiction (domain/jurisdiction.py), so
    # any value up to 21 is valid here: one below a jurisdiction's line simply doesn't lower it.
    purpose = purpose_from_pb(p)
    if not purpose.controller_id and acting_for is not None:
        purpose = replace(purpose, controller_id=acting_for)
    return commands.RegisterPurpose(purpose, acting_for)

def _purpose_of(v: Validator, req) -> str | None:
    """The purpose id and the controller whose purpose it is, here and below: a controller's client its own
    (naming another is ControllerNotFound); an operator the one it names, or None (see
    commands.PublishNotice.acting_for)."""
    v.identifier("purpose_id", req.purpose_id)
    return auth.controller_scope(req.controller_id, v)

def publish_notice(req: pb.PublishNoticeRequest) -> commands.PublishNotice:
    v = Validator()
    acting_for = _purpose_of(v, req)
    if not req.texts:
        v.fail("texts", "repeated.min_items", "at least one language is required")
    v.count("texts", req.texts, most=MAX_LANGUAGES)
    for i, t in enumerate(req.texts[:MAX_LANGUAGES]):
        v.matches(f"texts[{i}].language", t.language, LANGUAGE_TAG, "a BCP 47 language tag such as zh-CN")
        v.text(f"texts[{i}].text", t.text, max_len=_MAX_TEXT)
    languages = [t.language for t in req.texts]
    v.check(len(set(languages)) == len(languages), "texts", "repeated.unique", "one text per language")
    _idempotency_key(v, req.idempotency_key)
    v.done()
    return commands.PublishNotice(req.purpose_id, tuple((t.language, t.text) for t in req.texts),
                                  req.material_change, acting_for)

# Notice versions are stored as PostgreSQL integers.
MAX_NOTICE_VERSION = 2**31 - 1


def grant_consent(req: pb.GrantConsentRequest) -> commands.GrantConsent:
    v = Validator()
    v.identifier("subject_id", req.subject_id)
    acting_for = _purpose_of(v, req)
    v.check(0 < req.notice_version <= MAX_NOTICE_VERSION, "notice_version", "uint32.range",
            f"must be between 1 and {MAX_NOTICE_VERSION}")
    v.matches("notice_language", req.notice_language, LANGUAGE_TAG, "a BCP 47 language tag such as zh-CN")
    v.matches("notice_hash", req.notice_hash, SHA256_HEX, "64 lowercase hex digits (SHA-256)")
    v.enum("collection_method", req.collection_method, pb.CollectionMethod.values())
    v.text("evidence_ref", req.evidence_ref, max_len=500, required=False)
    _actor(v, "actor", req.actor)
    v.check(0 < req.subject_age <= 150, "subject_age", "uint32.range", "must be between 1 and 150")
    v.matches("jurisdiction", req.jurisdiction, JURISDICTION, "an ISO 3166 code such as CN, EU or US-IL")
    _idempotency_key(v, req.idempotency_key)
    v.done()
    return commands.GrantConsent(
        subject_id=req.subject_id, purpose_id=req.purpose_id, notice_version=req.notice_version,
        notice_language=req.notice_language, notice_hash=req.notice_hash,
        collection_method=CollectionMethod(req.collection_method), evidence_ref=req.evidence_ref,
        actor=actor_from_pb(req.actor), subject_age=req.subject_age, jurisdiction=req.jurisdiction,
        alternative_offered=req.alternative_offered, acting_for=acting_for,
    )

def _check(v: Validator, req: pb.CheckConsentRequest, prefix: str) -> tuple[str, str, str]:
    """(subject, purpose, the controller it is asked in): a controller's client its own, an operator
    (keyvault asking for a face system) the one it names; see auth.acting_controller."""
    v.identifier(f"{prefix}subject_id", req.subject_id)
    v.identifier(f"{prefix}purpose_id", req.purpose_id)
    return req.subject_id, req.purpose_id, auth.acting_controller(req.controller_id, v, f"{prefix}controller_id")

def check(req: pb.CheckConsentRequest) -> tuple[str, str, str]:
    v = Validator()
    asked = _check(v, req, "")
    v.done()
    return asked

def watch(req: pb.WatchConsentsRequest) -> str:
    v = Validator()
    controller_id = auth.acting_controller(req.controller_id, v)
    v.done()
    return controller_id


def check_many(req: pb.CheckConsentsRequest) -> list[tuple[str, str, str]]:
    v = Validator()
    v.check(0 < len(req.checks) <= MAX_BATCH, "checks", "repeated.items", f"between 1 and {MAX_BATCH} checks")
    asked = [_check(v, c, f"checks[{i}].") for i, c in enumerate(req.checks[:MAX_BATCH])]
    v.done()
    return asked

def withdraw_consent(req: pb.WithdrawConsentRequest) -> commands.WithdrawConsent:
    v = Validator()
    v.identifier("subject_id", req.subject_id)
    acting_for = _purpose_of(v, req)
    _actor(v, "actor", req.actor)
    v.text("reason", req.reason, max_len=1000, required=False)
    if req.collection_method:
        v.enum("collection_method", req.collection_method, pb.CollectionMethod.values())
    v.text("evidence_ref", req.evidence_ref, max_len=500, required=False)
    _idempotency_key(v, req.idempotency_key)
    v.done()
    return commands.WithdrawConsent(
        req.subject_id, req.purpose_id, actor_from_pb(req.actor), req.reason,
        CollectionMethod(req.collection_method) if req.collection_method else None, req.evidence_ref, acting_for)

def list_purposes(req: pb.ListPurposesRequest) -> tuple[str | None, int]:
    """The controller (a controller's client: its own, whatever purposes it may use; an operator: the
    one it names, None for every one) and the page size."""
    v = Validator()
    controller_id = auth.controller_scope(req.controller_id, v)
    size = v.page(req.page_size, req.page_token, default=DEFAULT_PAGE, most=MAX_PAGE)
    v.done()
    return controller_id, size

def list_consents(req: pb.ListConsentsRequest) -> tuple[str, str, int]:
    """The subject, the controller it is a subject of (an operator must name it) and the page size."""
    v = Validator()
    v.identifier("subject_id", req.subject_id)
    controller_id = auth.acting_controller(req.controller_id, v)
    size = v.page(req.page_size, req.page_token, default=DEFAULT_PAGE, most=MAX_PAGE)
    v.done()
    return req.subject_id, controller_id, size

def filing_status(req: pb.GetFilingStatusRequest) -> str:
    """The controller: a controller's client its own (empty or named), an operator the one it names."""
    v = Validator()
    controller_id = auth.acting_controller(req.controller_id, v)
    v.done()
    return controller_id

def purpose(req: pb.GetPurposeRequest) -> tuple[str, str | None]:
    """The purpose id and its controller (see _purpose_of)."""
    v = Validator()
    within = _purpose_of(v, req)
    v.done()
    return req.purpose_id, within

def consent_history(req: pb.GetConsentHistoryRequest) -> tuple[str, str, str | None, int]:
    """The subject, the purpose, its controller (see _purpose_of) and the page size."""
    v = Validator()
    v.identifier("subject_id", req.subject_id)
    within = _purpose_of(v, req)
    size = v.page(req.page_size, req.page_token, default=DEFAULT_PAGE, most=MAX_PAGE)
    v.done()
    return req.subject_id, req.purpose_id, within, size

def record_interaction(req: pb.RecordInteractionRequest) -> commands.RecordInteraction:
    v = Validator()
    v.identifier("subject_id", req.subject_id)
    acting_for = _purpose_of(v, req)
    now = datetime.now(UTC)
    at = v.timestamp("occurred_at", present(req, "occurred_at"), latest=now)
    v.done()
    return commands.RecordInteraction(req.subject_id, req.purpose_id, at or now, acting_for)

def consent_as_of(req: pb.GetConsentAsOfRequest) -> tuple[str, str, str | None, datetime]:
    v = Validator()
    v.identifier("subject_id", req.subject_id)
    within = _purpose_of(v, req)
    moment = v.timestamp("as_of", present(req, "as_of"), required=True, latest=datetime.now(UTC))
    v.done()
    assert moment is not None
    return req.subject_id, req.purpose_id, within, moment

def issue_receipt(req: pb.IssueReceiptRequest) -> tuple[str, str, str | None]:
    v = Validator()
    v.identifier("subject_id", req.subject_id)
    within = _purpose_of(v, req)
    v.done()
    return req.subject_id, req.purpose_id, within

def erase_subject(req: admin_pb.EraseSubjectRequest) -> commands.EraseSubject:
    """The operator names the controller whose subject is erased: the same person elsewhere stays."""
    v = Validator()
    v.identifier("subject_id", req.subject_id)
    v.identifier("request_id", req.request_id)
    controller_id = auth.acting_controller(req.controller_id, v)
    _idempotency_key(v, req.idempotency_key)
    v.done()
    return commands.EraseSubject(req.subject_id, req.request_id, controller_id)

def expire(req: admin_pb.ExpireConsentsRequest) -> commands.ExpireConsents:
    """`as_of` may lie in the past (a sweep that missed its time), never in the future: one typo in a
    year would otherwise expire every consent and delete every template."""
    v = Validator()
    now = datetime.now(UTC)
    as_of = v.timestamp("as_of", present(req, "as_of"), latest=now)
    v.done()
    return commands.ExpireConsents(as_of or now)

def render_receipt(req: pb.RenderReceiptRequest) -> tuple[bytes, bytes, str, str]:
    """The receipt, its signature, key id and the page's language ("" for the receipt's own)."""
    v = Validator()
    if not req.receipt_json:
        v.fail("receipt_json", "required", "value is required")
    v.check(len(req.receipt_json) <= MAX_RECEIPT_JSON, "receipt_json", "bytes.max_len",
            f"must be at most {MAX_RECEIPT_JSON} bytes")
    v.check(len(req.signature) == ED25519_SIGNATURE_BYTES, "signature", "bytes.len",
            f"must be the {ED25519_SIGNATURE_BYTES}-byte Ed25519 signature returned with the receipt")
    v.identifier("key_id", req.key_id)
    v.check(req.language in ("", *LANGUAGES), "language", "string.in",
            f"must be one of {', '.join(LANGUAGES)}, or empty for the receipt's own language")
    v.done()
    return req.receipt_json, req.signature, req.key_id, req.language

def identifier(field: str, value: str) -> str:
    v = Validator()
    v.identifier(field, value)
    v.done()
    return value
