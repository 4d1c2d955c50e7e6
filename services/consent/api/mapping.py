"""Proto <-> domain. Enum numbers are the same on both sides by design, so mapping is by value."""

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from google.protobuf import duration_pb2, timestamp_pb2

from consentry.consent.v1 import consent_pb2 as pb
from services.consent.domain.model import (
    Actor, ActorKind, CheckResult, CollectionMethod, Consent, ConsentState, DataCategory, LegalBasis, Notice,
    Purpose, StorageLocation,
)
from services.consent.domain.history import ConsentAsOf, HistoryEntry
from services.consent.service.consents import Receipt


def ts(at: datetime | None) -> timestamp_pb2.Timestamp | None:
    if at is None:
        return None
    out = timestamp_pb2.Timestamp()
    out.FromDatetime(at)
    return out


def duration(d: timedelta) -> duration_pb2.Duration:
    out = duration_pb2.Duration()
    out.FromTimedelta(d)
    return out


def purpose_from_pb(p: pb.Purpose) -> Purpose:
    return Purpose(
        purpose_id=p.purpose_id, controller_id=p.controller_id, name=p.name, description=p.description,
        data_categories=tuple(DataCategory(c) for c in p.data_categories),
        storage_location=StorageLocation(p.storage_location), retention=p.retention.ToTimedelta(),
        legal_basis=LegalBasis(p.legal_basis), non_face_alternative=p.non_face_alternative,
        minimum_age=p.minimum_age, pia_reference=p.pia_reference, recipients=tuple(p.recipients),
        withdrawal_method=p.withdrawal_method,
    )


def purpose_to_pb(p: Purpose) -> pb.Purpose:
    return pb.Purpose(
        purpose_id=p.purpose_id, controller_id=p.controller_id, name=p.name, description=p.description,
        data_categories=[c.value for c in p.data_categories], storage_location=p.storage_location.value,
        retention=duration(p.retention), legal_basis=p.legal_basis.value,
        non_face_alternative=p.non_face_alternative, minimum_age=p.minimum_age, pia_reference=p.pia_reference,
        recipients=list(p.recipients), withdrawal_method=p.withdrawal_method,
        current_notice_version=p.current_notice_version, created_at=ts(p.created_at),
    )


def notice_to_pb(n: Notice) -> pb.Notice:
    return pb.Notice(purpose_id=n.purpose_id, version=n.version, language=n.language, text=n.text,
                     content_hash=n.content_hash, material_change=n.material_change,
                     published_at=ts(n.published_at))


def actor_from_pb(a: pb.Actor) -> Actor:
    return Actor(ActorKind(a.kind), a.guardian_id, a.guardian_verification_ref)


def actor_to_pb(a: Actor) -> pb.Actor:
    return pb.Actor(kind=a.kind.value, guardian_id=a.guardian_id,
                    guardian_verification_ref=a.guardian_verification_ref)


def consent_to_pb(c: Consent) -> pb.Consent:
    return pb.Consent(
        consent_id=c.consent_id, subject_id=c.subject_id, purpose_id=c.purpose_id, controller_id=c.controller_id,
        state=c.state.value, notice_version=c.notice_version, notice_language=c.notice_language,
        notice_hash=c.notice_hash, jurisdiction=c.jurisdiction, collection_method=c.collection_method.value,
        evidence_ref=c.evidence_ref, actor=actor_to_pb(c.actor), subject_age=c.subject_age,
        alternative_offered=c.alternative_offered, granted_at=ts(c.granted_at), expires_at=ts(c.expires_at),
        last_interaction_at=ts(c.last_interaction_at), updated_at=ts(c.updated_at),
    )


def receipt_to_pb(r: Receipt) -> pb.ConsentReceipt:
    return pb.ConsentReceipt(receipt_json=r.receipt_json, signature=r.signature, key_id=r.key_id)


def history_to_pb(h: HistoryEntry) -> pb.ConsentEvent:
    return pb.ConsentEvent(
        event_id=h.event_id, type=h.event_type, state=h.state.value, notice_version=h.notice_version,
        actor=actor_to_pb(h.actor), reason=h.reason, occurred_at=ts(h.occurred_at),
        notice_language=h.notice_language, notice_hash=h.notice_hash, jurisdiction=h.jurisdiction,
        collection_method=h.collection_method.value if h.collection_method else pb.COLLECTION_METHOD_UNSPECIFIED,
        evidence_ref=h.evidence_ref, expires_at=ts(h.expires_at) if h.expires_at else None,
    )


def as_of_to_pb(a: ConsentAsOf) -> pb.GetConsentAsOfResponse:
    return pb.GetConsentAsOfResponse(
        state=a.state.value if a.state else pb.CONSENT_STATE_UNSPECIFIED,
        grant=history_to_pb(a.grant) if a.grant else None,
        last_event=history_to_pb(a.last_event) if a.last_event else None,
    )


def check_to_pb(r: CheckResult) -> pb.CheckConsentResponse:
    return pb.CheckConsentResponse(
        decision=pb.DECISION_ALLOW if r.allowed else pb.DECISION_DENY,
        reason=r.reason.value if r.reason else pb.DENY_REASON_UNSPECIFIED,
        consent_id=r.consent_id, notice_version=r.notice_version, lapses=r.lapses,
        storage_location=r.storage_location.value if r.storage_location else pb.STORAGE_LOCATION_UNSPECIFIED,
    )


def _dt(t: timestamp_pb2.Timestamp) -> datetime:
    return t.ToDatetime(UTC)


def consent_from_pb(c: pb.Consent) -> Consent:
    return Consent(
        consent_id=c.consent_id, subject_id=c.subject_id, purpose_id=c.purpose_id, controller_id=c.controller_id,
        state=ConsentState(c.state), notice_version=c.notice_version, notice_language=c.notice_language,
        notice_hash=c.notice_hash, jurisdiction=c.jurisdiction,
        collection_method=CollectionMethod(c.collection_method), evidence_ref=c.evidence_ref,
        actor=actor_from_pb(c.actor), subject_age=c.subject_age, alternative_offered=c.alternative_offered,
        granted_at=_dt(c.granted_at), expires_at=_dt(c.expires_at),
        last_interaction_at=_dt(c.last_interaction_at), updated_at=_dt(c.updated_at),
    )


def stored_purpose_from_pb(p: pb.Purpose) -> Purpose:
    return replace(purpose_from_pb(p), current_notice_version=p.current_notice_version,
                   created_at=_dt(p.created_at))


def notice_from_pb(n: pb.Notice) -> Notice:
    return Notice(n.purpose_id, n.version, n.language, n.text, n.content_hash, n.material_change,
                  _dt(n.published_at))
