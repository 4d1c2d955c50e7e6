"""Domain events -> typed protobuf payloads for the outbox (envelope built by the relay)."""

import uuid

from consentry.consent.v1 import events_pb2 as pb
from services.common.outbox import PendingEvent
from services.consent.messages import consent_to_pb, controller_to_pb, purpose_to_pb
from services.consent.domain import events as ev
from services.consent.service.consents import utcnow


def to_pending(event_id: str, event: ev.Event) -> PendingEvent:
    subject, payload = _payload(event)
    consent = getattr(event, "consent", None)
    guardian = (consent.actor.guardian_id,) if consent is not None and consent.actor.guardian_id else ()
    # In the clear on the envelope, and with the subject what the relay seals the event under: the same
    # person at two controllers is two subjects with two event keys.
    return PendingEvent(uuid.UUID(event_id), event.type, subject, payload, utcnow(), others=guardian,
                        controller_id=ev.controller_of(event))


def _payload(event: ev.Event):
    match event:
        case ev.ControllerRegistered(controller):
            return "", pb.ControllerRegistered(controller=controller_to_pb(controller))
        case ev.PurposeRegistered(purpose):
            return "", pb.PurposeRegistered(purpose=purpose_to_pb(purpose))
        case ev.NoticePublished(notices, _):
            return "", pb.NoticePublished(
                purpose_id=notices[0].purpose_id, version=notices[0].version,
                languages=[n.language for n in notices], content_hashes=[n.content_hash for n in notices],
                material_change=notices[0].material_change)
        case ev.ConsentGranted(consent):
            return consent.subject_id, pb.ConsentGranted(consent=consent_to_pb(consent))
        case ev.ConsentWithdrawn(consent, reason):
            return consent.subject_id, pb.ConsentWithdrawn(consent=consent_to_pb(consent), reason=reason)
        case ev.ConsentExpired(consent, cause):
            return consent.subject_id, pb.ConsentExpired(consent=consent_to_pb(consent), cause=cause)
        case ev.ConsentRenewalRequired(consent, version):
            return consent.subject_id, pb.ConsentRenewalRequired(consent=consent_to_pb(consent),
                                                                 required_notice_version=version)
        case ev.SubjectErased(tombstone, request_id, count, _):
            return "", pb.SubjectErased(subject_tombstone=tombstone, request_id=request_id,
                                                consents_erased=count)
        case ev.FilingThresholdCrossed(status):
            return "", pb.FilingThresholdCrossed(
                controller_id=status.controller_id, subjects_with_stored_face_data=status.people,
                threshold=status.threshold, state=status.state.value)
    raise TypeError(f"no payload for {type(event).__name__}")
