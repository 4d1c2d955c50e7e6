"""The consent service's records as consent.proto messages. Shared by the api (its responses) and
the events (their payloads embed the same Purpose and Consent messages), so neither layer reaches
into the other. Enum numbers are the same on both sides by design, so mapping is by value."""

from datetime import timedelta

from google.protobuf import duration_pb2

from consentry.consent.v1 import consent_pb2 as pb
from services.common.timestamps import to_timestamp as ts
from services.consent.domain.controller import Controller
from services.consent.domain.model import Actor, Consent, Purpose


def duration(d: timedelta) -> duration_pb2.Duration:
    out = duration_pb2.Duration()
    out.FromTimedelta(d)
    return out


def purpose_to_pb(p: Purpose) -> pb.Purpose:
    return pb.Purpose(
        purpose_id=p.purpose_id, controller_id=p.controller_id, name=p.name, description=p.description,
        data_categories=[c.value for c in p.data_categories], storage_location=p.storage_location.value,
        retention=duration(p.retention), legal_basis=p.legal_basis.value,
        non_face_alternative=p.non_face_alternative, minimum_age=p.minimum_age, pia_reference=p.pia_reference,
        recipients=list(p.recipients), withdrawal_method=p.withdrawal_method,
        current_notice_version=p.current_notice_version, created_at=ts(p.created_at),
    )


def controller_to_pb(c: Controller) -> pb.Controller:
    return pb.Controller(controller_id=c.controller_id, legal_name=c.legal_name, address=c.address,
                         contact=c.contact, jurisdiction=c.jurisdiction, created_at=ts(c.created_at))


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
